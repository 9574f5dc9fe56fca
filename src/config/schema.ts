import { z } from "zod";

// The launch contract keys (../shared/DESIGN.md) must keep their exact names and
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
      })
      .strict()
      .default({ enabled: false, allow_guests: false }),
    rate_limits: z
      .object({ enabled: z.boolean().default(true) })
      .strict()
      .default({ enabled: true }),
    federation: z
      .object({
        verify_tls: z.boolean().default(true),
        ca_file: z.string().min(1).optional(),
        allow_private_addresses: z.boolean().default(false),
      })
      .strict()
      .default({ verify_tls: true, allow_private_addresses: false }),
    app_service_config_files: z.array(z.string().min(1)).default([]),
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
    logging: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      })
      .strict()
      .default({ level: "info" }),
    shutdown_grace_ms: z.number().int().min(0).default(10_000),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
