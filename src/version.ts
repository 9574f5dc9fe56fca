export const SERVER_SOFTWARE_NAME = "matrix-homeserver-ts";
export const VERSION = "0.1.0";
