package builder

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// TestHeredoc checks that a heredoc, formatted as packer fmt formats it,
// reads back as the text it was given: interpolations and directives stay
// text, indentation and a missing final newline come through.
func TestHeredoc(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"script", "#!/bin/bash\nset -eu\n\techo \"$1\"\n", "#!/bin/bash\nset -eu\n\techo \"$1\"\n"},
		{"interpolation", "echo ${HOME} $${x}\n", "echo ${HOME} $${x}\n"},
		{"directive", "echo %{ if x }y%{ endif } %%{z}\n", "echo %{ if x }y%{ endif } %%{z}\n"},
		{"no final newline", "echo done", "echo done\n"},
		{"indented end marker text", "  EOTX\n", "  EOTX\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := hclwrite.Format([]byte("source \"x\" \"y\" {\n  v = " + heredoc(tc.text) + "\n}\n"))
			f, diags := hclsyntax.ParseConfig(src, "x.pkr.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatalf("%v\n%s", diags, src)
			}
			a := f.Body.(*hclsyntax.Body).Blocks[0].Body.Attributes["v"]
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("%v\n%s", diags, src)
			}
			if got := v.AsString(); got != tc.want {
				t.Errorf("reads back as %q, want %q\n%s", got, tc.want, src)
			}
		})
	}
}

// TestHeredocRefusesItsEndMarker checks that text with a line that would
// end the heredoc early is refused, not cut short.
func TestHeredocRefusesItsEndMarker(t *testing.T) {
	for _, text := range []string{"a\nEOT\nb\n", "  EOT\n", "EOT"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), `"EOT"`) {
					t.Errorf("heredoc(%q): recovered %v, want a panic naming EOT", text, r)
				}
			}()
			heredoc(text)
		}()
	}
}
