/**
 * A strict reader of the Prometheus text exposition format (0.0.4) for tests:
 * every line must be a HELP/TYPE comment or a sample of a declared family,
 * label values escaped, values floats; histograms need their +Inf bucket to
 * equal _count. Throws on anything else.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)( -?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
// Go's strconv.ParseFloat (Prometheus's own parser) takes NaN and Inf in any case.
const VALUE = /^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?inf|nan)$/i;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = LABEL.exec(rest);
    if (!m) throw new Error(`bad labels in: ${line}`);
    if (m[1]! in out) throw new Error(`duplicate label in: ${line}`);
    out[m[1]!] = m[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    rest = rest.slice(m[0].length);
  }
  return out;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ["", "_bucket", "_sum", "_count", "_total", "_created"]) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, sample.length - suffix.length));
      if (f) return f;
    }
    return undefined;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
      if (!m) throw new Error(`bad comment: ${line}`);
      const f = families.get(m[2]!) ?? { name: m[2]!, type: "untyped", help: "", samples: [] };
      if (m[1] === "TYPE") {
        if (!TYPES.has(m[3]!)) throw new Error(`bad type: ${line}`);
        f.type = m[3]!;
      } else f.help = m[3]!;
      families.set(f.name, f);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m || !VALUE.test(m[4]!)) throw new Error(`bad sample: ${line}`);
    const f = familyOf(m[1]!);
    if (!f) throw new Error(`sample of an undeclared family: ${line}`);
    f.samples.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3], line) : {}, value: /nan/i.test(m[4]!) ? NaN : Number(m[4]!.replace(/inf$/i, "Infinity")) });
  }
  for (const f of families.values()) {
    if (f.type !== "histogram") continue;
    const key = (l: Record<string, string>) =>
      JSON.stringify(
        Object.entries(l)
          .filter(([k]) => k !== "le")
          .sort(),
      );
    for (const c of f.samples.filter((s) => s.name === `${f.name}_count`)) {
      const inf = f.samples.find((s) => s.name === `${f.name}_bucket` && s.labels.le === "+Inf" && key(s.labels) === key(c.labels));
      if (!inf || inf.value !== c.value) throw new Error(`histogram ${f.name}: +Inf bucket differs from _count`);
    }
  }
  return families;
}
