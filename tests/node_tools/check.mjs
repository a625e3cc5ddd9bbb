// Reads [[language, query], ...] as JSON on stdin; prints, for each query, the offsets
// where Grafana's grammar for it (traceql or logql) found a syntax error.
import { readFileSync } from "node:fs";
import { parser as logql } from "@grafana/lezer-logql";
import { parser as traceql } from "@grafana/lezer-traceql";

const parsers = { logql, traceql };
const queries = JSON.parse(readFileSync(0, "utf8"));
const results = queries.map(([language, query]) => {
  const errors = [];
  parsers[language].parse(query).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return { language, query, errors };
});
console.log(JSON.stringify(results));
