// The HGL extension: starts `hgl lsp` (the language server of compiler/lsp.py) over stdio
// for .hgl files. Highlighting and brackets come from the grammar and language configuration.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("hgl");
  const executable = {
    command: config.get("server.command", "hgl"),
    args: config.get("server.args", ["lsp"]),
  };
  const serverOptions = { run: executable, debug: executable };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "hgl" },
      { scheme: "untitled", language: "hgl" },
    ],
    outputChannelName: "HGL language server",
  };
  client = new LanguageClient("hgl", "HGL language server", serverOptions, clientOptions);
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `HGL: could not start '${executable.command} ${executable.args.join(" ")}': ${err.message}. ` +
        "Set 'hgl.server.command' to the hgl of your virtual environment."
    );
  });
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
