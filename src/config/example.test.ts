import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "./load.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("config.example.yaml", () => {
  it("is valid and equal to the built-in defaults", () => {
    const example = parseConfig(parse(readFileSync(path.join(root, "config.example.yaml"), "utf8")));
    expect(example).toEqual(parseConfig({}));
  });
});

describe("config validation", () => {
  it("names the bad key in the error", () => {
    expect(() => parseConfig({ listeners: { client: { port: "eighty" } } })).toThrow(/listeners\.client\.port/);
    expect(() => parseConfig({ server_name: "bad name!" })).toThrow(/server_name/);
    expect(() => parseConfig({ registraton: { enabled: true } })).toThrow(/unknown key 'registraton'/);
    expect(() => parseConfig({ database: { url: "mysql://x" } })).toThrow(/database\.url/);
    // Scale-out needs PostgreSQL; a name must be usable in a file name.
    expect(() => parseConfig({ instance_name: "w1" })).toThrow(/instance_name: scale-out needs database\.url/);
    expect(() => parseConfig({ instance_name: "../w1", database: { url: "postgres://x@h/db" } })).toThrow(/instance_name/);
    expect(parseConfig({ instance_name: "w1", database: { url: "postgres://x@h/db" } }).instance_name).toBe("w1");
  });

  it("accepts the launch contract keys exactly as written", () => {
    const c = parseConfig({
      server_name: "localhost:28448",
      listeners: {
        client: { bind: "127.0.0.1", port: 28008 },
        federation: { bind: "127.0.0.1", port: 28448, tls: { certificate: "/c.pem", key: "/k.pem" } },
      },
      data_dir: "/tmp/x",
      database: { url: "postgres://user@127.0.0.1:5432/db" },
      registration: { enabled: true, shared_secret: "s3cret", allow_guests: true },
      rate_limits: { enabled: false },
      federation: { verify_tls: false, ca_file: "/ca.crt", allow_private_addresses: true },
      app_service_config_files: ["/r.yaml"],
    });
    expect(c.server_name).toBe("localhost:28448");
    expect(c.listeners.federation?.tls?.certificate).toBe("/c.pem");
    expect(c.registration.shared_secret).toBe("s3cret");
    expect(c.federation.allow_private_addresses).toBe(true);
    expect(c.app_service_config_files).toEqual(["/r.yaml"]);
  });

  it("environment variables override secrets", () => {
    const c = parseConfig({ registration: { shared_secret: "file" } }, {
      HOMESERVER_REGISTRATION_SHARED_SECRET: "env",
      HOMESERVER_DATABASE_URL: "postgres://u@h/db",
    });
    expect(c.registration.shared_secret).toBe("env");
    expect(c.database.url).toBe("postgres://u@h/db");
  });
});
