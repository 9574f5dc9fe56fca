import { z } from "zod";
import { DEFAULT_DENIED_RANGES, isValidRange } from "../media/ip-ranges.js";
import { mediaSchema } from "./media-schema.js";

// The launch keys (docs/ARCHITECTURE.md "Configuration and launch") must keep their exact names and
// meaning; everything else here is ours to design and is documented, with its
// default, in config.example.yaml.

const port = z.number().int().min(0).max(65535);

const tlsSchema = z
  .object({
    certificate: z.string().min(1),
    key: z.string().min(1),
  })
  .strict();

const listenerSchema = z
  .object({
    bind: z.string().min(1).default("127.0.0.1"),
    port,
  })
  .strict();

const federationListenerSchema = listenerSchema
  .extend({ tls: tlsSchema.optional() })
  .strict();

const senderDefaults = { min_backoff_ms: 2_000, max_backoff_ms: 600_000, ephemeral_edu_ttl_ms: 300_000 };

// Accounts: rate-limit rules, token lifetimes, password policy,
// profile limits, email and identity servers.
const rateLimitRule = z
  .object({ per_second: z.number().positive(), burst: z.number().int().min(1) })
  .strict();
const defaultRule = { per_second: 0.17, burst: 3 };

const authDefaults = {
  allow_access_token_query_param: true,
  access_token_lifetime_ms: null,
  refreshable_access_token_lifetime_ms: 300_000,
  refresh_token_lifetime_ms: null,
  login_token_lifetime_ms: 120_000,
  login_get_token_enabled: true,
  openid_token_lifetime_ms: 3_600_000,
  uia_session_lifetime_ms: 900_000,
  oauth_only: false,
};
const authSchema = z
  .object({
    allow_access_token_query_param: z.boolean().default(authDefaults.allow_access_token_query_param),
    access_token_lifetime_ms: z.number().int().positive().nullable().default(null),
    refreshable_access_token_lifetime_ms: z.number().int().positive().default(authDefaults.refreshable_access_token_lifetime_ms),
    refresh_token_lifetime_ms: z.number().int().positive().nullable().default(null),
    login_token_lifetime_ms: z.number().int().positive().default(authDefaults.login_token_lifetime_ms),
    login_get_token_enabled: z.boolean().default(authDefaults.login_get_token_enabled),
    openid_token_lifetime_ms: z.number().int().positive().default(authDefaults.openid_token_lifetime_ms),
    uia_session_lifetime_ms: z.number().int().positive().default(authDefaults.uia_session_lifetime_ms),
    // Only the OAuth 2.0 API signs users in: POST /login and /register are for application services only.
    oauth_only: z.boolean().default(authDefaults.oauth_only),
  })
  .strict();

const oauthDefaults = {
  enabled: true,
  authorization_code_lifetime_ms: 600_000,
  device_code_lifetime_ms: 600_000,
  device_code_interval_s: 5,
  id_token_lifetime_ms: 3_600_000,
  browser_session_lifetime_ms: 604_800_000,
};
const oauthSchema = z
  .object({
    enabled: z.boolean().default(oauthDefaults.enabled),
    authorization_code_lifetime_ms: z.number().int().min(1000).default(oauthDefaults.authorization_code_lifetime_ms),
    device_code_lifetime_ms: z.number().int().min(1000).default(oauthDefaults.device_code_lifetime_ms),
    device_code_interval_s: z.number().int().min(1).max(60).default(oauthDefaults.device_code_interval_s),
    id_token_lifetime_ms: z.number().int().min(1000).default(oauthDefaults.id_token_lifetime_ms),
    browser_session_lifetime_ms: z.number().int().min(60_000).default(oauthDefaults.browser_session_lifetime_ms),
  })
  .strict();

const passwordPolicyDefaults = {
  min_length: 0,
  require_digit: false,
  require_symbol: false,
  require_lowercase: false,
  require_uppercase: false,
  scrypt_cost: 32768,
};
const passwordPolicySchema = z
  .object({
    min_length: z.number().int().min(0).max(512).default(0),
    require_digit: z.boolean().default(false),
    require_symbol: z.boolean().default(false),
    require_lowercase: z.boolean().default(false),
    require_uppercase: z.boolean().default(false),
    // scrypt N (a power of two); memory used is 128 * N * 8 bytes.
    scrypt_cost: z
      .number()
      .int()
      .min(1024)
      .max(1_048_576)
      .refine((n) => (n & (n - 1)) === 0, "must be a power of two")
      .default(32768),
  })
  .strict();

const profilesDefaults = { max_displayname_length: 256, max_avatar_url_length: 1024, max_field_bytes: 65536 };
const profilesSchema = z
  .object({
    max_displayname_length: z.number().int().min(1).default(256),
    max_avatar_url_length: z.number().int().min(1).default(1024),
    max_field_bytes: z.number().int().min(1).max(65536).default(65536),
  })
  .strict();

const emailDefaults = {
  smtp_port: 25,
  require_transport_security: false,
  validation_token_lifetime_ms: 3_600_000,
};
const emailSchema = z
  .object({
    smtp_host: z.string().min(1).optional(),
    smtp_port: port.default(25),
    smtp_user: z.string().min(1).optional(),
    smtp_pass: z.string().min(1).optional(),
    require_transport_security: z.boolean().default(false),
    from: z.string().min(1).optional(),
    validation_token_lifetime_ms: z.number().int().positive().default(3_600_000),
  })
  .strict();

const idServerIpRange = z.string().refine(isValidRange, "must be an IP address or CIDR range such as 10.0.0.0/8 or fc00::/7");
const identityServerSchema = z
  .object({
    // Empty: the identity server each client names is used (subject to the IP ranges below).
    trusted_servers: z.array(z.string().min(1)).default([]),
    allow_ip_ranges: z.array(idServerIpRange).default([]),
    deny_ip_ranges: z.array(idServerIpRange).default([...DEFAULT_DENIED_RANGES]),
    timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
  })
  .strict();

export const configSchema = z
  .object({
    server_name: z
      .string()
      .min(1)
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/, "must be a server name such as example.org or localhost:8448")
      .default("localhost"),
    public_baseurl: z.url().optional(),
    listeners: z
      .object({
        client: listenerSchema.default({ bind: "127.0.0.1", port: 8008 }),
        federation: federationListenerSchema.nullable().default({ bind: "127.0.0.1", port: 8448 }),
      })
      .strict()
      .default({ client: { bind: "127.0.0.1", port: 8008 }, federation: { bind: "127.0.0.1", port: 8448 } }),
    data_dir: z.string().min(1).default("./data"),
    // Scale-out: this process's name among several on one PostgreSQL database (docs/scale-out.md).
    instance_name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, '.', '_' or '-'")
      .optional(),
    signing_key_path: z.string().min(1).optional(),
    database: z
      .object({
        url: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL").optional(),
        pool_size: z.number().int().min(1).max(200).default(10),
      })
      .strict()
      .default({ pool_size: 10 }),
    registration: z
      .object({
        enabled: z.boolean().default(false),
        shared_secret: z.string().min(1).optional(),
        allow_guests: z.boolean().default(false),
        require_token: z.boolean().default(false),
        require_email: z.boolean().default(false),
        reserved_localparts: z.array(z.string().min(1)).default([]),
        // Google reCAPTCHA ("m.login.recaptcha") in every registration flow; absent: off.
        recaptcha: z
          .object({
            public_key: z.string().min(1),
            private_key: z.string().min(1),
            verify_url: z.url().default("https://www.google.com/recaptcha/api/siteverify"),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ enabled: false, allow_guests: false, require_token: false, require_email: false, reserved_localparts: [] }),
    rate_limits: z
      .object({
        enabled: z.boolean().default(true),
        login_per_ip: rateLimitRule.default(defaultRule),
        login_per_account: rateLimitRule.default(defaultRule),
        failed_logins_per_account: rateLimitRule.default(defaultRule),
        registration_per_ip: rateLimitRule.default(defaultRule),
        // Message sends per user (admins may override it per user); null: no limit.
        messages_per_user: rateLimitRule.nullable().default(null),
      })
      .strict()
      .default({
        enabled: true,
        login_per_ip: defaultRule,
        login_per_account: defaultRule,
        failed_logins_per_account: defaultRule,
        registration_per_ip: defaultRule,
        messages_per_user: null,
      }),
    auth: authSchema.default(authDefaults),
    oauth: oauthSchema.default(oauthDefaults),
    password_policy: passwordPolicySchema.default(passwordPolicyDefaults),
    profiles: profilesSchema.default(profilesDefaults),
    email: emailSchema.default(emailDefaults),
    identity_server: identityServerSchema.prefault({}),
    user_directory: z
      .object({ search_all_users: z.boolean().default(false) })
      .strict()
      .default({ search_all_users: false }),
    federation: z
      .object({
        verify_tls: z.boolean().default(true),
        ca_file: z.string().min(1).optional(),
        allow_private_addresses: z.boolean().default(false),
        // Notaries asked for a server's keys when the server itself does not answer
        // (server-server "Querying Keys Through Another Server").
        trusted_key_servers: z
          .array(
            z
              .object({
                server_name: z.string().min(1),
                // Key id -> unpadded base64 public key; without it the notary's keys are fetched from it.
                verify_keys: z.record(z.string().regex(/^ed25519:[a-zA-Z0-9_]+$/), z.string().min(1)).optional(),
              })
              .strict(),
          )
          .default([]),
        // Keys this server used to sign with, still published for old events ("old_verify_keys").
        old_verify_keys: z
          .record(
            z.string().regex(/^ed25519:[a-zA-Z0-9_]+$/),
            z.object({ key: z.string().min(1), expired_ts: z.number().int().nonnegative() }).strict(),
          )
          .default({}),
        // The outbound sender (server-server "Transactions"): retries of a destination
        // that fails back off from min to max, doubling; typing, receipts and presence
        // not sent within ephemeral_edu_ttl_ms (a destination that stays down) are dropped.
        sender: z
          .object({
            min_backoff_ms: z.number().int().min(10).default(senderDefaults.min_backoff_ms),
            max_backoff_ms: z.number().int().min(10).default(senderDefaults.max_backoff_ms),
            ephemeral_edu_ttl_ms: z.number().int().min(1000).default(senderDefaults.ephemeral_edu_ttl_ms),
          })
          .strict()
          .refine((s) => s.max_backoff_ms >= s.min_backoff_ms, "max_backoff_ms must be at least min_backoff_ms")
          .default(senderDefaults),
      })
      .strict()
      .default({ verify_tls: true, allow_private_addresses: false, trusted_key_servers: [], old_verify_keys: {}, sender: senderDefaults }),
    // HTTP pushers: requests to the push gateways clients register.
    push: z
      .object({
        allow_private_addresses: z.boolean().default(false),
        gateway_timeout_ms: z.number().int().min(100).default(10_000),
        max_notification_age_ms: z.number().int().min(1000).default(3_600_000),
        min_backoff_ms: z.number().int().min(1).default(1_000),
        max_backoff_ms: z.number().int().min(1).default(600_000),
      })
      .strict()
      .default({
        allow_private_addresses: false,
        gateway_timeout_ms: 10_000,
        max_notification_age_ms: 3_600_000,
        min_backoff_ms: 1_000,
        max_backoff_ms: 600_000,
      }),
    app_service_config_files: z.array(z.string().min(1)).default([]),
    app_services: z
      .object({
        retry_min_ms: z.number().int().min(10).default(1_000),
        retry_max_ms: z.number().int().min(10).default(300_000),
        request_timeout_ms: z.number().int().min(100).default(30_000),
        max_response_bytes: z.number().int().min(1024).default(1024 * 1024),
        to_device: z.boolean().default(true),
      })
      .strict()
      .default({ retry_min_ms: 1_000, retry_max_ms: 300_000, request_timeout_ms: 30_000, max_response_bytes: 1024 * 1024, to_device: true }),
    rooms: z
      .object({ default_room_version: z.string().min(1).default("11") })
      .strict()
      .default({ default_room_version: "11" }),
    limits: z
      .object({
        // JSON request bodies: events are at most 64 KiB, but to-device and key
        // uploads to many devices can be larger.
        json_body_bytes: z.number().int().min(1024).default(8 * 1024 * 1024),
      })
      .strict()
      .default({ json_body_bytes: 8 * 1024 * 1024 }),
    well_known: z
      .object({
        client_base_url: z.url().optional(),
        server: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    media: mediaSchema.prefault({}),
    logging: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      })
      .strict()
      .default({ level: "info" }),
    presence: z
      .object({
        enabled: z.boolean().default(true),
        idle_timeout_ms: z.number().int().min(1000).default(300_000),
      })
      .strict()
      .default({ enabled: true, idle_timeout_ms: 300_000 }),
    shutdown_grace_ms: z.number().int().min(0).default(10_000),
    // Administration: Prometheus metrics listener, server notices, reverse proxies.
    metrics: z
      .object({
        enabled: z.boolean().default(false),
        bind: z.string().min(1).default("127.0.0.1"),
        port: port.default(9092),
      })
      .strict()
      .default({ enabled: false, bind: "127.0.0.1", port: 9092 }),
    server_notices: z
      .object({
        system_mxid_localpart: z.string().regex(/^[a-z0-9._=\/+-]+$/, "must be a valid localpart").optional(),
        system_mxid_display_name: z.string().min(1).default("Server Notices"),
        room_name: z.string().min(1).default("Server Notices"),
      })
      .strict()
      .default({ system_mxid_display_name: "Server Notices", room_name: "Server Notices" }),
    retention: z
      .object({
        enabled: z.boolean().default(false),
        default_max_lifetime_ms: z.number().int().positive().nullable().default(null),
        purge_interval_ms: z.number().int().min(100).default(3_600_000),
      })
      .strict()
      .default({ enabled: false, default_max_lifetime_ms: null, purge_interval_ms: 3_600_000 }),
    trusted_proxies: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
    // Delayed events (MSC4140), which Element Call uses to leave a call when a client goes away.
    delayed_events: z
      .object({
        enabled: z.boolean().default(true),
        max_delay_ms: z.number().int().min(0).default(86_400_000),
        max_per_user: z.number().int().min(1).default(100),
      })
      .strict()
      .default({ enabled: true, max_delay_ms: 86_400_000, max_per_user: 100 }),
    // Voice and video calls: TURN credentials (client-server "Voice over IP") and MatrixRTC foci (MSC4143).
    voip: z
      .object({
        turn_uris: z.array(z.string().min(1)).default([]),
        turn_shared_secret: z.string().min(1).optional(),
        turn_username: z.string().min(1).optional(),
        turn_password: z.string().min(1).optional(),
        // Milliseconds a TURN REST credential stays valid.
        turn_user_lifetime: z.number().int().min(1000).default(86_400_000),
        turn_allow_guests: z.boolean().default(true),
        // Each focus as clients expect it, e.g. { type: livekit, livekit_service_url: https://... }.
        rtc_foci: z.array(z.looseObject({ type: z.string().min(1) })).default([]),
      })
      .strict()
      .default({ turn_uris: [], turn_user_lifetime: 86_400_000, turn_allow_guests: true, rtc_foci: [] }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
