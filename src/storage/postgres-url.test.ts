import { describe, expect, it } from "vitest";
import { postgresTarget } from "./postgres-url.js";

describe("postgresTarget", () => {
  it("leaves host:port URLs as they are", () => {
    for (const url of ["postgres://u:p@127.0.0.1:5432/db", "postgresql://u@db.example/matrix?sslmode=require", "postgres://h/db"]) {
      expect(postgresTarget(url)).toEqual({ url });
    }
  });

  it("takes a socket directory from a percent-encoded host, with or without a port", () => {
    expect(postgresTarget("postgres://u@%2Fvar%2Frun%2Fpostgresql/matrix")).toEqual({
      url: "postgres://u@localhost:5432/matrix",
      socketPath: "/var/run/postgresql/.s.PGSQL.5432",
    });
    expect(postgresTarget("postgresql://u:secret@%2Ftmp%2Fpg:5433/matrix?application_name=x")).toEqual({
      url: "postgresql://u:secret@localhost:5433/matrix?application_name=x",
      socketPath: "/tmp/pg/.s.PGSQL.5433",
    });
  });

  it("takes a socket directory from a host parameter (libpq's form), and its port parameter", () => {
    expect(postgresTarget("postgres://u@/matrix?host=/var/run/postgresql/")).toEqual({
      url: "postgres://u@localhost:5432/matrix",
      socketPath: "/var/run/postgresql/.s.PGSQL.5432",
    });
    expect(postgresTarget("postgresql:///matrix?host=%2Frun%2Fpg&port=6000&sslmode=disable")).toEqual({
      url: "postgresql://localhost:6000/matrix?sslmode=disable",
      socketPath: "/run/pg/.s.PGSQL.6000",
    });
  });

  it("keeps a host parameter that is not a directory for postgres.js to judge", () => {
    const url = "postgres://u@h/db?host=other";
    expect(postgresTarget(url)).toEqual({ url });
  });
});
