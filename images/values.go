package images

import (
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The decoder's value readers. Each reports what is wrong with a value at
// its place and returns ok false; a definition's values are literals, so
// that variables and function calls are reported too.

// eval returns the value of e, which must be a known, non-null literal.
func (d *decoder) eval(e hclsyntax.Expression, path string) (cty.Value, bool) {
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		for _, diag := range diags {
			if diag.Severity == hcl.DiagError {
				d.addf(subjectStart(diag, e), "%s: %s", path, sentence(diag.Summary))
			}
		}
		return cty.NilVal, false
	}
	switch {
	case !v.IsWhollyKnown():
		d.addf(e.Range().Start, "%s: not a literal value", path)
		return cty.NilVal, false
	case v.IsNull():
		d.addf(e.Range().Start, "%s: null is not a value here; leave the setting out instead", path)
		return cty.NilVal, false
	}
	return v, true
}

// stringOf converts v, found at pos, to a string that may go into a
// Packer template as it is.
func (d *decoder) stringOf(v cty.Value, pos hcl.Pos, path string) (string, bool) {
	if v.IsNull() {
		d.addf(pos, "%s: null is not a value here", path)
		return "", false
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		d.addf(pos, "%s: want a string, not %s", path, v.Type().FriendlyName())
		return "", false
	}
	s := sv.AsString()
	switch {
	case !utf8.ValidString(s):
		d.addf(pos, "%s: not valid UTF-8", path)
		return "", false
	case strings.Contains(s, "{{"):
		d.addf(pos, "%s: %q holds \"{{\", which Packer would read as a template; definitions hold plain values", path, s)
		return "", false
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		d.addf(pos, "%s: %q holds a control character", path, s)
		return "", false
	}
	return s, true
}

func (d *decoder) str(a *hclsyntax.Attribute, path string) (string, bool) {
	v, ok := d.eval(a.Expr, path)
	if !ok {
		return "", false
	}
	return d.stringOf(v, a.Expr.Range().Start, path)
}

func (d *decoder) boolean(a *hclsyntax.Attribute, path string) (bool, bool) {
	v, ok := d.eval(a.Expr, path)
	if !ok {
		return false, false
	}
	if v.Type() != cty.Bool {
		d.addf(a.Expr.Range().Start, "%s: want true or false, not %s", path, v.Type().FriendlyName())
		return false, false
	}
	return v.True(), true
}

func (d *decoder) integer(a *hclsyntax.Attribute, path string) (int, bool) {
	v, ok := d.eval(a.Expr, path)
	if !ok {
		return 0, false
	}
	pos := a.Expr.Range().Start
	if v.Type() != cty.Number {
		d.addf(pos, "%s: want a whole number, not %s", path, v.Type().FriendlyName())
		return 0, false
	}
	f := v.AsBigFloat()
	if !f.IsInt() {
		d.addf(pos, "%s: %s is not a whole number", path, f.Text('g', 10))
		return 0, false
	}
	if f.Cmp(big.NewFloat(-1e9)) < 0 || f.Cmp(big.NewFloat(1e9)) > 0 {
		d.addf(pos, "%s: %s is out of range", path, f.Text('g', 10))
		return 0, false
	}
	n, _ := f.Int64()
	return int(n), true
}

// item is a string in a list, with its place.
type item struct {
	v   string
	pos hcl.Pos
}

// strList returns the strings of a list attribute, each with its place
// when the list is written out. ok is false when the value as a whole is
// bad; bad elements are reported and left out.
func (d *decoder) strList(a *hclsyntax.Attribute, path string) (items []item, ok bool) {
	v, ok := d.eval(a.Expr, path)
	if !ok {
		return nil, false
	}
	ty := v.Type()
	if !ty.IsTupleType() && !ty.IsListType() && !ty.IsSetType() {
		d.addf(a.Expr.Range().Start, "%s: want a list of strings, not %s", path, ty.FriendlyName())
		return nil, false
	}
	tuple, _ := a.Expr.(*hclsyntax.TupleConsExpr)
	if tuple != nil && len(tuple.Exprs) != v.LengthInt() {
		tuple = nil
	}
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, ev := it.Element()
		pos := a.Expr.Range().Start
		if tuple != nil {
			pos = tuple.Exprs[i].Range().Start
		}
		if s, ok := d.stringOf(ev, pos, path); ok {
			items = append(items, item{s, pos})
		}
	}
	return items, true
}

// entry is a key and value in a map, with their places.
type entry struct {
	k, v           string
	keyPos, valPos hcl.Pos
}

// strMap returns the entries of a map attribute, in the order written,
// each with its places when the map is written out. ok is false when the
// value as a whole is bad; bad entries are reported and left out.
func (d *decoder) strMap(a *hclsyntax.Attribute, path string) (entries []entry, ok bool) {
	obj, isObj := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !isObj {
		v, ok := d.eval(a.Expr, path)
		if !ok {
			return nil, false
		}
		pos := a.Expr.Range().Start
		if ty := v.Type(); !ty.IsObjectType() && !ty.IsMapType() {
			d.addf(pos, "%s: want a map of strings, not %s", path, ty.FriendlyName())
			return nil, false
		}
		for it := v.ElementIterator(); it.Next(); {
			kv, ev := it.Element()
			k, kok := d.stringOf(kv, pos, path)
			val, vok := d.stringOf(ev, pos, path)
			if kok && vok {
				entries = append(entries, entry{k, val, pos, pos})
			}
		}
		return entries, true
	}
	seen := map[string]hcl.Pos{}
	for _, it := range obj.Items {
		keyPos, valPos := it.KeyExpr.Range().Start, it.ValueExpr.Range().Start
		kv, kok := d.eval(it.KeyExpr, path)
		vv, vok := d.eval(it.ValueExpr, path)
		if !kok || !vok {
			continue
		}
		k, kok := d.stringOf(kv, keyPos, path)
		val, vok := d.stringOf(vv, valPos, path)
		if !kok || !vok {
			continue
		}
		if first, dup := seen[k]; dup {
			d.addf(keyPos, "%s: key %q is set twice (first at %s)", path, k, at(first))
			continue
		}
		seen[k] = keyPos
		entries = append(entries, entry{k, val, keyPos, valPos})
	}
	return entries, true
}
