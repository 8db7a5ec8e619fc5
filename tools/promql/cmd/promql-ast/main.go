// promql-ast prints the syntax tree Prometheus' own PromQL parser makes of each expression, as plain JSON.
//
// It is compiled inside the github.com/prometheus/prometheus module at v0.42.0, the release of the
// promtool and Prometheus Debian ships (2.42.0), so it parses exactly what promtool checks and the
// server runs (gitops_check/toolchain.py copies this file into that module and runs `go build`).
// parser.ParseExpr also type-checks (a range vector where an instant vector belongs is an error).
//
//	stdin:  [{"id": "a", "expr": "sum(rate(x_total[5m]))"}, ...]
//	stdout: one JSON object per line, per input, in input order:
//	        {"id": "a", "tree": NODE} or {"id": "a", "error": "1:5: parse error: ..."}
//
// Every NODE has "node" (the parser's type name: AggregateExpr, BinaryExpr, Call, MatrixSelector,
// SubqueryExpr, NumberLiteral, StringLiteral, ParenExpr, UnaryExpr, VectorSelector), "type" (what it
// evaluates to: vector, scalar, matrix or string) and "pos" ([start, end) byte offsets into the
// expression), plus the fields of its kind; durations are in seconds. Anything else on stdin, or a node
// it does not know, is a message on stderr and exit code 2: never a partial answer.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

type input struct {
	ID   string `json:"id"`
	Expr string `json:"expr"`
}

type result struct {
	ID    string `json:"id"`
	Tree  node   `json:"tree,omitempty"`
	Error string `json:"error,omitempty"`
}

type node map[string]any

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("cannot read stdin: %v", err)
	}
	var items []input
	if err := json.Unmarshal(data, &items); err != nil {
		fail(`stdin is not a JSON list of {"id", "expr"}: %v`, err)
	}
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false) // `>` stays `>`: nothing here is HTML
	for _, item := range items {
		res := result{ID: item.ID}
		if expr, err := parser.ParseExpr(item.Expr); err != nil {
			res.Error = err.Error()
		} else {
			res.Tree = convert(expr)
		}
		if err := encoder.Encode(res); err != nil {
			fail("cannot write the result of %q: %v", item.ID, err)
		}
	}
	if err := out.Flush(); err != nil {
		fail("cannot write stdout: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "promql-ast: "+format+"\n", args...)
	os.Exit(2)
}

func convert(expr parser.Expr) node {
	pos := expr.PositionRange()
	n := node{"type": string(expr.Type()), "pos": []int{int(pos.Start), int(pos.End)}}
	switch e := expr.(type) {
	case *parser.AggregateExpr:
		n["node"], n["op"], n["grouping"], n["without"] = "AggregateExpr", e.Op.String(), labelList(e.Grouping), e.Without
		n["expr"] = convert(e.Expr)
		if e.Param != nil {
			n["param"] = convert(e.Param)
		}
	case *parser.BinaryExpr:
		n["node"], n["op"], n["return_bool"] = "BinaryExpr", e.Op.String(), e.ReturnBool
		n["lhs"], n["rhs"] = convert(e.LHS), convert(e.RHS)
		if m := e.VectorMatching; m != nil { // nil when an operand is a scalar
			n["matching"] = node{
				"card": m.Card.String(), "on": m.On, "ignoring": !m.On && len(m.MatchingLabels) > 0,
				"labels": labelList(m.MatchingLabels), "include": labelList(m.Include),
			}
		}
	case *parser.Call:
		argTypes := []string{}
		for _, t := range e.Func.ArgTypes {
			argTypes = append(argTypes, string(t))
		}
		args := []node{}
		for _, a := range e.Args {
			args = append(args, convert(a))
		}
		n["node"], n["func"], n["arg_types"], n["variadic"], n["args"] = "Call", e.Func.Name, argTypes, e.Func.Variadic, args
	case *parser.MatrixSelector:
		n["node"], n["range_seconds"], n["expr"] = "MatrixSelector", seconds(e.Range), convert(e.VectorSelector)
	case *parser.SubqueryExpr:
		n["node"], n["range_seconds"], n["step_seconds"] = "SubqueryExpr", seconds(e.Range), seconds(e.Step)
		n["offset_seconds"], n["expr"] = seconds(e.OriginalOffset), convert(e.Expr)
		at(n, e.Timestamp, e.StartOrEnd)
	case *parser.VectorSelector:
		matchers := []node{}
		for _, m := range e.LabelMatchers {
			matchers = append(matchers, node{"name": m.Name, "type": m.Type.String(), "value": m.Value})
		}
		n["node"], n["name"], n["matchers"], n["offset_seconds"] = "VectorSelector", e.Name, matchers, seconds(e.OriginalOffset)
		at(n, e.Timestamp, e.StartOrEnd)
	case *parser.NumberLiteral:
		n["node"], n["value"] = "NumberLiteral", number(e.Val)
	case *parser.StringLiteral:
		n["node"], n["value"] = "StringLiteral", e.Val
	case *parser.ParenExpr:
		n["node"], n["expr"] = "ParenExpr", convert(e.Expr)
	case *parser.UnaryExpr:
		n["node"], n["op"], n["expr"] = "UnaryExpr", e.Op.String(), convert(e.Expr)
	default:
		fail("unknown node %T in %q", expr, expr.String())
	}
	return n
}

func labelList(labels []string) []string {
	if labels == nil {
		return []string{}
	}
	return labels
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// number keeps JSON valid: NaN and ±Inf (legal PromQL literals) become strings, as Prometheus' API writes them.
func number(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return v
}

// at records an `@` modifier: a fixed timestamp in milliseconds, or start()/end().
func at(n node, timestamp *int64, startOrEnd parser.ItemType) {
	switch {
	case timestamp != nil:
		n["at_ms"] = *timestamp
	case startOrEnd != 0:
		n["at"] = startOrEnd.String()
	}
}
