/**
 * Where a PostgreSQL connection URL points. Besides host:port, libpq's URL forms
 * name a Unix-domain socket directory, either as the host part
 * (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`) or as a `host` parameter
 * (`postgres://user@/db?host=/var/run/postgresql`). postgres.js takes a socket
 * only as a `path` option, so those forms are turned into one here. On the same
 * machine a socket spares each statement the loopback TCP stack.
 */
export interface PostgresTarget {
  /** A URL postgres.js parses: the socket forms with their host replaced. */
  url: string;
  /** The socket file (`<dir>/.s.PGSQL.<port>`), when the URL names a socket directory. */
  socketPath?: string;
}

const URL_SHAPE = /^(postgres(?:ql)?):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/;

export function postgresTarget(url: string): PostgresTarget {
  const m = URL_SHAPE.exec(url);
  if (!m) return { url };
  const [, scheme, userInfo, rawHost = "", rawPath = "", rawQuery = ""] = m;
  const params = new URLSearchParams(rawQuery);
  let host: string;
  try {
    host = decodeURIComponent(rawHost);
  } catch {
    return { url };
  }
  let dir: string | undefined;
  let port: string | undefined;
  if (host.startsWith("/")) {
    // A socket directory as the host part may carry a port after it.
    const colon = host.lastIndexOf(":");
    if (colon > 0 && /^\d+$/.test(host.slice(colon + 1))) {
      port = host.slice(colon + 1);
      dir = host.slice(0, colon);
    } else dir = host;
  } else {
    const hostParam = params.get("host");
    if (hostParam?.startsWith("/")) dir = hostParam;
    const colon = host.lastIndexOf(":");
    if (colon >= 0 && /^\d+$/.test(host.slice(colon + 1))) port = host.slice(colon + 1);
  }
  if (dir === undefined) return { url };
  params.delete("host");
  port = params.get("port") ?? port ?? "5432";
  params.delete("port");
  const query = params.toString();
  const auth = userInfo !== undefined && userInfo !== "" ? `${userInfo}@` : "";
  return {
    url: `${scheme}://${auth}localhost:${port}${rawPath}${query ? `?${query}` : ""}`,
    socketPath: `${dir.replace(/\/+$/, "")}/.s.PGSQL.${port}`,
  };
}

/** postgres.js's arguments for a URL: the URL it parses, and the socket (if any) as its `path` option. */
export function postgresConnection(url: string): { url: string; options: { path?: string } } {
  const target = postgresTarget(url);
  return { url: target.url, options: target.socketPath !== undefined ? { path: target.socketPath } : {} };
}
