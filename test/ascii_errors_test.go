package test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// errorMakers are the calls whose format or text becomes an error's: a
// Proxy-Status details string carries it (RFC 9209 §2.1.1), which is an
// RFC 8941 sf-string, printable ASCII only.
var errorMakers = map[string]bool{"Errorf": true, "New": true, "malformed": true}

// Every error text ferry writes itself is ASCII, so the details of a
// Proxy-Status say it whole: "RFC 9112 section 6.1", never a '§' that
// would reach the client as "??". A test of the sources, since the texts
// are too many to provoke one by one (connect's
// TestProxyStatusIsAStructuredField provokes the common ones).
func TestErrorTextsAreASCII(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" ||
			d.Name() == "test" || path == filepath.Join("..", "cmd", "ferry-bench")):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !errorMakers[calleeName(call.Fun)] {
				return true
			}
			for _, arg := range call.Args {
				lit, ok := arg.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				if i := strings.IndexFunc(s, func(r rune) bool { return r > 0x7e }); i >= 0 {
					t.Errorf("%s: error text %s has %q: write it in ASCII (\"section\", not '§')", fset.Position(lit.Pos()), lit.Value, []rune(s[i:])[0])
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func calleeName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}
