package iameval

import (
	"fmt"
	"slices"
	"strings"
)

// Set qualifiers and the IfExists suffix of a condition operator.
const (
	forAllValues = "ForAllValues:"
	forAnyValue  = "ForAnyValue:"
	ifExists     = "IfExists"
)

// operator is a condition operator, parsed.
type operator struct {
	set      string // "", forAllValues or forAnyValue
	ifExists bool
	// negated operators (StringNotEquals, ArnNotLike, ...) are true for
	// a value that matches none of the policy's values.
	negated bool
	// wild says whether * and ? in the policy's values are wildcards.
	wild bool
	// match compares one request value with one policy value.
	match func(got, want string) bool
}

// operators are the condition operators modelled, without qualifier or
// suffix.
func lookupOperator(name string) (operator, bool) {
	switch name {
	case "StringEquals":
		return operator{match: func(g, w string) bool { return g == w }}, true
	case "StringNotEquals":
		return operator{negated: true, match: func(g, w string) bool { return g == w }}, true
	case "StringEqualsIgnoreCase":
		return operator{match: strings.EqualFold}, true
	case "StringNotEqualsIgnoreCase":
		return operator{negated: true, match: strings.EqualFold}, true
	case "StringLike":
		return operator{wild: true, match: func(g, w string) bool { return glob(w, g) }}, true
	case "StringNotLike":
		return operator{negated: true, wild: true, match: func(g, w string) bool { return glob(w, g) }}, true
	case "ArnEquals", "ArnLike":
		// IAM documents both as matching segment by segment, with
		// wildcards in either.
		return operator{wild: true, match: func(g, w string) bool { return isARN(g) && matchARN(w, g) }}, true
	case "ArnNotEquals", "ArnNotLike":
		return operator{negated: true, wild: true, match: func(g, w string) bool { return isARN(g) && matchARN(w, g) }}, true
	case "Bool":
		return operator{match: strings.EqualFold}, true
	}
	return operator{}, false
}

func isARN(s string) bool {
	return strings.HasPrefix(s, "arn:") && strings.Count(s, ":") >= 5
}

// parseOperator reads set qualifier, operator and IfExists suffix.
func parseOperator(name string) (operator, error) {
	base, set := name, ""
	for _, q := range []string{forAllValues, forAnyValue} {
		if rest, ok := strings.CutPrefix(name, q); ok {
			base, set = rest, q
		}
	}
	base, exists := strings.CutSuffix(base, ifExists)
	op, ok := lookupOperator(base)
	if !ok {
		return operator{}, fmt.Errorf("condition operator %q: not modelled", name)
	}
	op.set, op.ifExists = set, exists
	return op, nil
}

// condition says whether one key of one operator holds for ctx: the
// values of want are ORed (NORed for a negated operator).
func condition(opName, key string, want []string, ctx map[string][]string) (bool, error) {
	got, present := lookup(ctx, key)
	if opName == "Null" {
		// "true": the key is absent; "false": it is present.
		for _, w := range want {
			switch strings.ToLower(w) {
			case "true":
				if !present {
					return true, nil
				}
			case "false":
				if present {
					return true, nil
				}
			default:
				return false, fmt.Errorf("condition Null %s: value %q: want true or false", key, w)
			}
		}
		return false, nil
	}
	op, err := parseOperator(opName)
	if err != nil {
		return false, err
	}
	var values []string
	for _, w := range want {
		// A value whose variable the context lacks matches nothing.
		if v, ok := substitute(w, ctx, op.wild); ok {
			values = append(values, v)
		}
	}
	// matches: one request value against the policy's values, with the
	// operator's sense.
	matches := func(g string) bool {
		m := slices.ContainsFunc(values, func(w string) bool { return op.match(g, w) })
		return m != op.negated
	}
	empty := !present || len(got) == 0
	switch op.set {
	case forAllValues:
		// True when every request value matches, and vacuously when
		// there are none.
		for _, g := range got {
			if !matches(g) {
				return false, nil
			}
		}
		return true, nil
	case forAnyValue:
		if empty {
			return op.ifExists, nil
		}
		return slices.ContainsFunc(got, matches), nil
	}
	if empty {
		// Absent: false, unless IfExists, or the operator is negated.
		return op.ifExists || op.negated, nil
	}
	if op.negated {
		// No request value matches any policy value.
		return !slices.ContainsFunc(got, func(g string) bool { return !matches(g) }), nil
	}
	return slices.ContainsFunc(got, matches), nil
}

// lookup finds key in ctx, ignoring case as IAM does for key names.
func lookup(ctx map[string][]string, key string) ([]string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// Literal * and ? in a substituted pattern ("${*}", "${?}"): glob takes
// them for the characters themselves, never for wildcards.
const (
	literalStar     = '\x00'
	literalQuestion = '\x01'
)

// resourceEscape is substitute's wild for Resource elements: their * and
// ? are wildcards.
const resourceEscape = true

// substitute replaces the policy variables of s (${key}, ${key, 'default'})
// with their values in ctx. When wild is set, ${*} and ${?} become the
// literal characters glob does not expand; ${$} is "$". It reports false
// when a variable has no single value in ctx and no default.
func substitute(s string, ctx map[string][]string, wild bool) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		inner := strings.TrimSpace(s[i+2 : i+j])
		s = s[i+j+1:]
		switch inner {
		case "*":
			b.WriteByte(pick(wild, literalStar, '*'))
			continue
		case "?":
			b.WriteByte(pick(wild, literalQuestion, '?'))
			continue
		case "$":
			b.WriteByte('$')
			continue
		}
		key, def, hasDefault := strings.Cut(inner, ",")
		key = strings.TrimSpace(key)
		v, ok := lookup(ctx, key)
		switch {
		case ok && len(v) == 1:
			b.WriteString(v[0])
		case hasDefault:
			b.WriteString(strings.Trim(strings.TrimSpace(def), "'"))
		default:
			return "", false
		}
	}
}

func pick(cond bool, a, b byte) byte {
	if cond {
		return a
	}
	return b
}
