package tunnel

import (
	"go/parser"
	"go/token"
	"testing"
)

func TestPackageHasADocComment(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil || len(f.Doc.Text()) < 100 {
		t.Error("doc.go has no package doc comment")
	}
}
