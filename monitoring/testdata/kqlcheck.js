// Parses and analyzes KQL with Microsoft's Kusto language service (@kusto/language-service-next).
// Input (argv[2], JSON): {tables: {name: "(col:type, ...)"}, functions: {name: body},
// queries: [text]}. Output (stdout, JSON): one entry per query and per function body with the
// diagnostics and the result columns.
const path = require('path');
const dir = process.env.KUSTO_LANGUAGE_SERVICE;
global.Bridge = require(path.join(dir, 'bridge.js'));
require(path.join(dir, 'Kusto.Language.Bridge.js'));
const K = Kusto.Language, S = K.Symbols;
const input = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));

const members = [];
for (const [name, schema] of Object.entries(input.tables)) {
  members.push(new S.TableSymbol.$ctor7(name, schema, null));
}
for (const [name, body] of Object.entries(input.functions)) {
  members.push(new S.FunctionSymbol.$ctor12(name, '{\n' + body + '\n}', S.Tabularity.Tabular, []));
}
const globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.$ctor1('workspace', members, false));

function analyze(name, text) {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diags = [];
  const d = code.GetDiagnostics();
  for (let i = 0; i < d.Count; i++) {
    const x = d.getItem(i);
    diags.push(x.Severity + ': ' + x.Message + ' at ' + x.Start);
  }
  const columns = [];
  const rt = code.ResultType;
  if (rt && rt.Columns) {
    for (let i = 0; i < rt.Columns.Count; i++) {
      const c = rt.Columns.getItem(i);
      columns.push(c.Name + ':' + c.Type.Name);
    }
  }
  return { name, diagnostics: diags, columns };
}

const out = [];
for (const [name, body] of Object.entries(input.functions)) out.push(analyze('function ' + name, body));
for (const q of input.queries) out.push(analyze(q, q));
process.stdout.write(JSON.stringify(out));
