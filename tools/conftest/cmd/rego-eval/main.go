// rego-eval asks conftest's policy engine what `conftest test --all-namespaces` would find in many
// documents, in one process, preparing every query once.
//
// It is compiled inside the github.com/open-policy-agent/conftest module at the pinned conftest version
// (gitops_check/toolchain.py copies this file into that module and runs `go build`), so the policies are
// loaded by conftest's own policy.LoadWithData, with the options `conftest test` uses by default (Rego v1,
// the default capabilities with conftest's builtins, not strict). Like conftest test, it loads every *.rego
// file, the *_test.rego ones too: their packages are namespaces like any other (ours have no deny or warn
// rule, so they find nothing).
//
// conftest re-prepares one query per document, per namespace and per rule; rego-eval asks the same
// questions of every document in one prepared query:
//
//   - the rules: in every namespace (package) of the engine, every rule named deny, violation or warn,
//     or with a deny_, violation_ or warn_ prefix (deny and violation are failures, warn a warning),
//     each queried as data.NAMESPACE.RULE;
//   - the exceptions: a rule's results are dropped when data.NAMESPACE.exception[_][_] holds its name
//     without the prefix ("" for deny, violation and warn);
//   - the results: a string is the message; an object must have a string "msg", and the rest of it (but
//     "_loc") is the metadata; conftest adds "query". An empty message is a success, and so is a value
//     that is neither a string nor an object.
//
// One query asks all of it (rN := [x | x := data.NS.RULE], eN := [true | EXCEPTION] for every rule): over
// the 1,100 documents of a 50-overlay fleet it took 1.2 s of CPU, one query per package 2.1 s, and
// conftest test 8 to 10 s. The documents are judged on every core, the answers printed in input order.
//
// The documents are parsed as conftest parses a JSON file (a top-level list is several documents judged
// together). data.conftest.file, the file a document came from, does not exist here: policies that read
// data.conftest are refused, not judged differently.
//
//	usage:  rego-eval -p POLICYDIR [-p ...] [--data PATH ...] < documents
//	stdin:  one JSON document per line
//	stdout: one JSON object per line, per document, in input order:
//	        {"index": 0, "results": [{"namespace": "webhook.pod", "kind": "failures", "msg": "...",
//	         "metadata": {"rule": "WH-POD-001", "query": "data.webhook.pod.deny"}}],
//	         "namespaces": ["lib.k8s", "webhook.pod", ...]}
//
// A policy, data file or document it cannot use, or a policy failing to evaluate, is one line on stderr
// and exit code 2, never a partial answer.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	// conftest's builtins (parse_config and friends), registered as in conftest itself.
	_ "github.com/open-policy-agent/conftest/builtins"
	"github.com/open-policy-agent/conftest/output"
	"github.com/open-policy-agent/conftest/policy"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"github.com/open-policy-agent/opa/v1/topdown/print"
)

// The rule names conftest queries (policy/engine.go warningRegex and failureRegex).
var (
	warning = regexp.MustCompile("^warn(_[a-zA-Z0-9]+)*$")
	failure = regexp.MustCompile("^(deny|violation)(_[a-zA-Z0-9]+)*$")
)

// A rule conftest would query: data.NAMESPACE.NAME.
type rule struct {
	namespace, name, kind string
}

func (r rule) query() string { return fmt.Sprintf("data.%s.%s", r.namespace, r.name) }

// exception is conftest's exception query for the rule (policy/engine.go check and removeRulePrefix).
func (r rule) exception() string {
	name := r.name
	for _, prefix := range []string{"violation_", "deny_", "warn_"} {
		name = strings.TrimPrefix(name, prefix)
	}
	if r.name == "deny" || r.name == "violation" || r.name == "warn" {
		name = ""
	}
	return fmt.Sprintf("data.%s.exception[_][_] == %q", r.namespace, name)
}

type finding struct {
	Namespace string         `json:"namespace"`
	Kind      string         `json:"kind"`
	Msg       string         `json:"msg"`
	Metadata  map[string]any `json:"metadata"`
}

type answer struct {
	Index      int       `json:"index"`
	Results    []finding `json:"results"`
	Namespaces []string  `json:"namespaces"`
}

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

type discard struct{}

func (discard) Print(print.Context, string) error { return nil }

func main() {
	var policies, data paths
	flag.Var(&policies, "p", "a policy file or folder (repeatable)")
	flag.Var(&policies, "policy", "same as -p")
	flag.Var(&data, "data", "a data file or folder (repeatable)")
	flag.Parse()
	if len(policies) == 0 || flag.NArg() > 0 {
		fail("usage: rego-eval -p POLICYDIR [--data PATH ...] < documents (one JSON document per line)")
	}
	ctx := context.Background()
	engine, namespaces, rules, err := load(policies, data)
	if err != nil {
		fail("%v", err)
	}
	query, err := prepare(ctx, engine, rules)
	if err != nil {
		fail("cannot prepare the query: %v", err)
	}
	lines, err := readLines(os.Stdin)
	if err != nil {
		fail("cannot read stdin: %v", err)
	}
	answers, err := evalAll(ctx, query, rules, namespaces, lines)
	if err != nil {
		fail("%v", err)
	}
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for _, a := range answers {
		if err := encoder.Encode(a); err != nil {
			fail("cannot write the result of document %d: %v", a.Index, err)
		}
	}
	if err := out.Flush(); err != nil {
		fail("cannot write stdout: %v", err)
	}
}

// load reads the policies and data as `conftest test` does, and lists the rules it would query.
func load(policies, data []string) (*policy.Engine, []string, []rule, error) {
	capabilities, err := policy.LoadCapabilities("")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load capabilities: %w", err)
	}
	opts := policy.CompilerOptions{RegoVersion: "v1", Capabilities: capabilities}
	engine, err := policy.LoadWithData(policies, data, opts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load: %w", err)
	}
	files := make([]string, 0, len(engine.Modules()))
	for file := range engine.Modules() {
		files = append(files, file)
	}
	sort.Strings(files)
	conftestData := ast.MustParseRef("data.conftest")
	for _, file := range files {
		var found bool
		ast.WalkRefs(engine.Modules()[file], func(ref ast.Ref) bool {
			found = found || ref.HasPrefix(conftestData)
			return found
		})
		if found {
			return nil, nil, nil, fmt.Errorf("%s reads data.conftest (the file of a document), which rego-eval has no file for: use `conftest test`", file)
		}
	}
	namespaces := engine.Namespaces()
	sort.Strings(namespaces)
	var rules []rule
	for _, namespace := range namespaces {
		var names []string // conftest dedupes rule names ignoring case (policy/engine.go contains)
		for _, file := range files {
			module := engine.Modules()[file]
			if strings.Replace(module.Package.Path.String(), "data.", "", 1) != namespace {
				continue
			}
			for _, r := range module.Rules {
				name := r.Head.Name.String()
				kind := "failures"
				if warning.MatchString(name) {
					kind = "warnings"
				} else if !failure.MatchString(name) {
					continue
				}
				if !containsFold(names, name) {
					names = append(names, name)
					rules = append(rules, rule{namespace, name, kind})
				}
			}
		}
	}
	return engine, namespaces, rules, nil
}

func containsFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// prepare compiles one query asking every rule and its exception: rN is [value of the rule] (empty when
// it is undefined), eN is non-empty when an exception applies to it. Compiler, store and runtime are
// those conftest's Engine.query passes.
func prepare(ctx context.Context, engine *policy.Engine, rules []rule) (*rego.PreparedEvalQuery, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	parts := make([]string, 0, 2*len(rules))
	for i, r := range rules {
		parts = append(parts, fmt.Sprintf("r%d := [x | x := %s]", i, r.query()), fmt.Sprintf("e%d := [true | %s]", i, r.exception()))
	}
	query, err := rego.New(
		rego.Query(strings.Join(parts, "; ")),
		rego.Compiler(engine.Compiler()),
		rego.Store(engine.Store()),
		rego.Runtime(engine.Runtime()),
		rego.PrintHook(discard{}),
		rego.InterQueryBuiltinCache(cache.NewInterQueryCache(nil)),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &query, nil
}

func readLines(r io.Reader) ([][]byte, error) {
	reader := bufio.NewReaderSize(r, 1<<20)
	var lines [][]byte
	for {
		line, err := reader.ReadBytes('\n')
		if len(line) > 0 {
			lines = append(lines, line)
		}
		if errors.Is(err, io.EOF) {
			return lines, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// evalAll judges every document, on every core. On errors, the documents before the first failing one are
// still judged, so the error reported is the one of the first failing document in input order.
func evalAll(ctx context.Context, query *rego.PreparedEvalQuery, rules []rule, namespaces []string, lines [][]byte) ([]answer, error) {
	answers := make([]answer, len(lines))
	errs := make([]error, len(lines))
	var next, first atomic.Int64 // the next document to judge; the first that failed
	first.Store(int64(len(lines)))
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < first.Load(); i = next.Add(1) - 1 {
				results, err := evalLine(ctx, query, rules, lines[i])
				if err != nil {
					errs[i] = fmt.Errorf("document %d (line %d): %w", i, i+1, err)
					lower(&first, i)
					continue
				}
				answers[i] = answer{Index: int(i), Results: results, Namespaces: namespaces}
			}
		}()
	}
	wg.Wait()
	if failed := first.Load(); failed < int64(len(lines)) {
		return nil, errs[failed]
	}
	return answers, nil
}

// lower sets v to i unless it is already lower.
func lower(v *atomic.Int64, i int64) {
	for old := v.Load(); i < old && !v.CompareAndSwap(old, i); old = v.Load() {
	}
}

// evalLine parses one line as conftest parses a JSON file (encoding/json into any) and judges it; a
// top-level list is several configurations whose results are reported together, as conftest does.
func evalLine(ctx context.Context, query *rego.PreparedEvalQuery, rules []rule, line []byte) ([]finding, error) {
	var doc any
	if err := json.Unmarshal(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")), &doc); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	configs, isList := doc.([]any)
	if !isList {
		configs = []any{doc}
	}
	results := []finding{}
	for _, config := range configs {
		found, err := evalDoc(ctx, query, rules, config)
		if err != nil {
			return nil, err
		}
		results = append(results, found...)
	}
	return results, nil
}

func evalDoc(ctx context.Context, query *rego.PreparedEvalQuery, rules []rule, config any) ([]finding, error) {
	if query == nil {
		return nil, nil
	}
	input, err := ast.InterfaceToValue(config)
	if err != nil {
		return nil, fmt.Errorf("convert input: %w", err)
	}
	set, err := query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluating policy: %w", err)
	}
	if len(set) != 1 {
		return nil, fmt.Errorf("the query gave %d results, expected 1", len(set))
	}
	var found []finding
	for i, r := range rules {
		if exceptions, _ := set[0].Bindings[fmt.Sprintf("e%d", i)].([]any); len(exceptions) > 0 {
			continue
		}
		values, _ := set[0].Bindings[fmt.Sprintf("r%d", i)].([]any)
		for _, value := range values {
			items, _ := value.([]any) // a set or an array; any other value is a success
			for _, item := range items {
				f, err := result(r, item)
				if err != nil {
					return nil, err
				}
				if f != nil {
					found = append(found, *f)
				}
			}
		}
	}
	return found, nil
}

// result is what conftest's Engine.query makes of one value of a rule: nil when it is a success.
func result(r rule, value any) (*finding, error) {
	var res output.Result
	switch v := value.(type) {
	case string:
		res = output.Result{Message: v, Metadata: map[string]any{}}
	case map[string]any:
		var err error
		if res, err = output.NewResult(v); err != nil {
			return nil, fmt.Errorf("%s: new result: %w", r.query(), err)
		}
	default:
		return nil, nil
	}
	if res.Passed() {
		return nil, nil
	}
	res.Metadata["query"] = r.query()
	return &finding{Namespace: r.namespace, Kind: r.kind, Msg: res.Message, Metadata: res.Metadata}, nil
}

func fail(format string, args ...any) {
	fmt.Fprintln(os.Stderr, "rego-eval: "+strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " "))
	os.Exit(2)
}
