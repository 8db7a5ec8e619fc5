// kustomize-batch builds many overlays in one process, each exactly as `kustomize build DIR` does, and
// prints their documents as JSON converted the way Argo CD and kubectl convert YAML (sigs.k8s.io/yaml).
//
// It is compiled inside sigs.k8s.io/kustomize/kustomize/v5 at the version of the pinned kustomize
// (gitops_check/toolchain.py copies this folder into that module and runs `go build`), and runs the CLI's
// own build command (commands/build, with the flags `kustomize build` has, on the on-disk file system)
// in-process: what a `kustomize build` process pays before it builds (about 40 ms of CPU here: starting,
// kustomize's tables, the builtin OpenAPI schema) is paid once for all overlays.
//
//	usage:  kustomize-batch DIR...
//	stdout: one JSON object per line, per DIR, in argument order, each written once DIR is built:
//	        {"overlay": DIR, "documents": [{"line": N, "object": {...}}, ...]} or
//	        {"overlay": DIR, "error": "kustomize's message"}
//
// "object" is the document converted by sigs.k8s.io/yaml's YAMLToJSON, as Argo CD converts the output of
// `kustomize build`; "line" is the 1-based line where the document starts in the YAML `kustomize build
// DIR` prints. A document that does not convert carries "error" instead of "object". An overlay that
// fails does not stop the others. Exit code 0 once every DIR has its line, 2 on a usage or write error.
//
// Overlays are built one after another, never in goroutines: the build command keeps its arguments and
// flags in package variables, and kyaml keeps the OpenAPI schema an overlay selects (its `openapi` field)
// in process-wide variables (kustomize issue 4824). For the same reason the schema is reset after an
// overlay that changed it, so every overlay starts from what a fresh `kustomize build` process sees. For
// more cores, run more processes.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kustomize/v5/commands/build"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/yaml"
)

type document struct {
	Line   int             `json:"line"`
	Object json.RawMessage `json:"object,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type result struct {
	Overlay   string      `json:"overlay"`
	Documents *[]document `json:"documents,omitempty"` // absent when the build failed; [] when it made none
	Error     string      `json:"error,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: kustomize-batch DIR...")
	}
	fSys := filesys.MakeFsOnDisk()
	fresh := openapi.GetSchemaVersion() // what a new process uses: no `openapi` field seen yet
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for _, dir := range os.Args[1:] {
		res := result{Overlay: dir}
		if yml, err := kustomizeBuild(fSys, dir); err != nil {
			res.Error = err.Error()
		} else {
			docs := documents(yml)
			res.Documents = &docs
		}
		if openapi.GetSchemaVersion() != fresh {
			openapi.ResetOpenAPI()
		}
		if err := encoder.Encode(res); err != nil {
			fail("cannot write: %v", err)
		}
		if err := out.Flush(); err != nil { // a line per overlay as soon as it is built
			fail("cannot write: %v", err)
		}
	}
}

// kustomizeBuild is `kustomize build DIR`: the CLI's build command as kustomize's commands package makes it
// (makeBuildCommand), its output (what the CLI prints) captured. A panic is the overlay's error.
func kustomizeBuild(fSys filesys.FileSystem, dir string) (yml []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kustomize panicked: %v", r)
		}
	}()
	var buf bytes.Buffer
	cmd := build.NewCmdBuild(fSys, build.MakeHelp(konfig.ProgramName, "build"), &buf)
	build.AddFunctionAlphaEnablementFlags(cmd.Flags())
	cmd.SetArgs([]string{"--", dir}) // DIR is never read as a flag
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors = true // the CLI prints "Error: " + err; the error is returned here instead
	if err := cmd.Execute(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var separator = []byte("\n---\n")

// documents splits the YAML `kustomize build` prints (resmap's AsYaml: one YAML document per resource,
// joined by "---" lines; inside a document yaml.v2 indents every continuation line, so "---" at the start
// of a line is only ever a separator) and converts each with YAMLToJSON.
func documents(yml []byte) []document {
	docs := []document{}
	line := 1
	for len(yml) > 0 {
		doc := yml
		if i := bytes.Index(yml, separator); i >= 0 {
			doc, yml = yml[:i+1], yml[i+len(separator):]
		} else {
			yml = nil
		}
		start := line + leadingLines(doc)
		line += bytes.Count(doc, []byte("\n")) + 1 // and the separator's
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, err := yaml.YAMLToJSON(doc)
		if err != nil {
			docs = append(docs, document{Line: start, Error: err.Error()})
		} else {
			docs = append(docs, document{Line: start, Object: obj})
		}
	}
	return docs
}

// leadingLines counts the blank and comment lines before a document's first node.
func leadingLines(doc []byte) int {
	n := 0
	for len(doc) > 0 {
		text, rest, _ := bytes.Cut(doc, []byte("\n"))
		if trimmed := bytes.TrimSpace(text); len(trimmed) > 0 && trimmed[0] != '#' {
			break
		}
		n, doc = n+1, rest
	}
	return n
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kustomize-batch: "+format+"\n", args...)
	os.Exit(2)
}
