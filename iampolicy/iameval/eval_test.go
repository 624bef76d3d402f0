package iameval

import (
	"strings"
	"testing"

	"github.com/cisecs/cisecs/iampolicy"
)

func allow(sid string, actions, resources []string, cond map[string]map[string][]string) Rule {
	return Rule{Sid: sid, Effect: "Allow", Action: actions, Resource: resources, Condition: cond}
}

func TestEvaluateRules(t *testing.T) {
	const inst = "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"
	one := func(op, key string, vals ...string) map[string]map[string][]string {
		return map[string]map[string][]string{op: {key: vals}}
	}
	tests := []struct {
		name  string
		rules []Rule
		check Check
		allow bool
		sid   string
	}{
		{name: "default deny", check: Check{Action: "ec2:RunInstances", Resource: inst}},
		{name: "action wildcard, any case", rules: []Rule{allow("A", []string{"EC2:Describe*"}, []string{"*"}, nil)},
			check: Check{Action: "ec2:describeinstances", Resource: "*"}, allow: true, sid: "A"},
		{name: "action question mark", rules: []Rule{allow("A", []string{"ec2:?topInstances"}, []string{"*"}, nil)},
			check: Check{Action: "ec2:StopInstances", Resource: inst}, allow: true, sid: "A"},
		{name: "other action", rules: []Rule{allow("A", []string{"ec2:Describe*"}, []string{"*"}, nil)},
			check: Check{Action: "ec2:RunInstances", Resource: inst}},
		{name: "resource pattern", rules: []Rule{allow("A", []string{"ec2:*"}, []string{"arn:aws:ec2:*:*:instance/*"}, nil)},
			check: Check{Action: "ec2:RunInstances", Resource: inst}, allow: true, sid: "A"},
		{name: "resource wildcard runs over colons", rules: []Rule{allow("A", []string{"ec2:*"}, []string{"arn:aws:ec2:*"}, nil)},
			check: Check{Action: "ec2:RunInstances", Resource: inst}, allow: true, sid: "A"},
		{name: "empty account segment", rules: []Rule{allow("A", []string{"ec2:*"}, []string{"arn:aws:ec2:*::image/*"}, nil)},
			check: Check{Action: "ec2:RunInstances", Resource: "arn:aws:ec2:us-east-1::image/ami-1"}, allow: true, sid: "A"},
		{name: "resources are case-sensitive", rules: []Rule{allow("A", []string{"ec2:*"}, []string{"arn:aws:ec2:*:*:Instance/*"}, nil)},
			check: Check{Action: "ec2:RunInstances", Resource: inst}},
		{name: "NotAction allows the others", rules: []Rule{{Sid: "N", Effect: "Allow", NotAction: []string{"iam:*"}, Resource: []string{"*"}}},
			check: Check{Action: "ec2:RunInstances", Resource: inst}, allow: true, sid: "N"},
		{name: "NotAction excludes its own", rules: []Rule{{Sid: "N", Effect: "Allow", NotAction: []string{"iam:*"}, Resource: []string{"*"}}},
			check: Check{Action: "iam:PassRole", Resource: "arn:aws:iam::1:role/r"}},
		{name: "NotResource", rules: []Rule{{Sid: "N", Effect: "Allow", Action: []string{"ec2:*"}, NotResource: []string{"arn:aws:ec2:*:*:volume/*"}}},
			check: Check{Action: "ec2:RunInstances", Resource: "arn:aws:ec2:us-east-1:1:volume/*"}},
		{name: "explicit deny wins", rules: []Rule{
			allow("A", []string{"ec2:*"}, []string{"*"}, nil),
			{Sid: "D", Effect: "Deny", Action: []string{"ec2:TerminateInstances"}, Resource: []string{"*"}},
		}, check: Check{Action: "ec2:TerminateInstances", Resource: inst}, sid: "D"},
		{name: "deny whose condition fails does not apply", rules: []Rule{
			allow("A", []string{"ec2:*"}, []string{"*"}, nil),
			{Sid: "D", Effect: "Deny", Action: []string{"ec2:*"}, Resource: []string{"*"}, Condition: one("StringEquals", "aws:ResourceTag/keep", "yes")},
		}, check: Check{Action: "ec2:TerminateInstances", Resource: inst}, allow: true, sid: "A"},
		{name: "conditions AND across operators", rules: []Rule{allow("A", []string{"ec2:*"}, []string{"*"}, map[string]map[string][]string{
			"StringEquals": {"aws:RequestTag/a": {"1"}},
			"Null":         {"aws:RequestTag/b": {"false"}},
		})}, check: Check{Action: "ec2:RunInstances", Resource: inst, Context: map[string][]string{"aws:RequestTag/a": {"1"}}}},
		{name: "resource variable", rules: []Rule{allow("A", []string{"iam:*"}, []string{"arn:aws:iam::*:user/${aws:username}"}, nil)},
			check: Check{Action: "iam:GetUser", Resource: "arn:aws:iam::1:user/bob", Context: map[string][]string{"aws:username": {"bob"}}}, allow: true, sid: "A"},
		{name: "resource variable absent", rules: []Rule{allow("A", []string{"iam:*"}, []string{"arn:aws:iam::*:user/${aws:username}"}, nil)},
			check: Check{Action: "iam:GetUser", Resource: "arn:aws:iam::1:user/bob"}},
		{name: "variable default", rules: []Rule{allow("A", []string{"iam:*"}, []string{"arn:aws:iam::*:user/${aws:username, 'bob'}"}, nil)},
			check: Check{Action: "iam:GetUser", Resource: "arn:aws:iam::1:user/bob"}, allow: true, sid: "A"},
		{name: "literal star from ${*} is no wildcard", rules: []Rule{allow("A", []string{"s3:*"}, []string{"arn:aws:s3:::b/${*}"}, nil)},
			check: Check{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/key"}},
		{name: "literal star from ${*} matches a star", rules: []Rule{allow("A", []string{"s3:*"}, []string{"arn:aws:s3:::b/${*}"}, nil)},
			check: Check{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*"}, allow: true, sid: "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := EvaluateRules(tt.rules, tt.check)
			if d.Allowed != tt.allow || d.Sid != tt.sid {
				t.Errorf("EvaluateRules(%s) = %+v, want allowed %v by %q", tt.check, d, tt.allow, tt.sid)
			}
		})
	}
}

func TestCondition(t *testing.T) {
	ctx := map[string][]string{
		"aws:RequestTag/cisecs:image": {"al2023"},
		"aws:TagKeys":                 {"cisecs:image", "Name"},
		"aws:userid":                  {"AROAEXAMPLE:session"},
		"ecs:cluster":                 {"arn:aws:ecs:us-east-1:1:cluster/cisecs-gate-1"},
		"kms:GrantIsForAWSResource":   {"true"},
		"aws:EmptySet":                {},
	}
	tests := []struct {
		name, op, key string
		want          []string
		holds         bool
	}{
		{"StringEquals", "StringEquals", "aws:RequestTag/cisecs:image", []string{"x", "al2023"}, true},
		{"StringEquals is case-sensitive", "StringEquals", "aws:RequestTag/cisecs:image", []string{"AL2023"}, false},
		{"key names ignore case", "StringEquals", "AWS:requesttag/CISECS:image", []string{"al2023"}, true},
		{"StringEquals absent", "StringEquals", "aws:RequestTag/other", []string{"al2023"}, false},
		{"StringEqualsIgnoreCase", "StringEqualsIgnoreCase", "aws:RequestTag/cisecs:image", []string{"AL2023"}, true},
		{"StringNotEquals", "StringNotEquals", "aws:RequestTag/cisecs:image", []string{"x", "y"}, true},
		{"StringNotEquals NOR", "StringNotEquals", "aws:RequestTag/cisecs:image", []string{"x", "al2023"}, false},
		{"StringNotEquals absent is true", "StringNotEquals", "aws:RequestTag/other", []string{"x"}, true},
		{"StringLike", "StringLike", "aws:RequestTag/cisecs:image", []string{"al20??"}, true},
		{"StringLike star", "StringLike", "aws:userid", []string{"AROA*:*"}, true},
		{"StringLike no match", "StringLike", "aws:RequestTag/cisecs:image", []string{"al2-*"}, false},
		{"StringNotLike", "StringNotLike", "aws:RequestTag/cisecs:image", []string{"al2-*"}, true},
		{"StringNotLike absent is true", "StringNotLike", "aws:RequestTag/other", []string{"*"}, true},
		{"variable in value", "StringLike", "aws:userid", []string{"${aws:userid}"}, true},
		{"variable absent matches nothing", "StringEquals", "aws:userid", []string{"${aws:username}"}, false},
		{"ArnLike", "ArnLike", "ecs:cluster", []string{"arn:aws:ecs:*:*:cluster/cisecs-gate-*"}, true},
		{"ArnEquals with wildcard", "ArnEquals", "ecs:cluster", []string{"arn:aws:ecs:*:*:cluster/cisecs-gate-1"}, true},
		{"ArnLike wildcard stays in its segment", "ArnLike", "ecs:cluster", []string{"arn:aws:ecs:*:cluster/cisecs-gate-1"}, false},
		{"ArnLike other cluster", "ArnLike", "ecs:cluster", []string{"arn:aws:ecs:*:*:cluster/default"}, false},
		{"ArnLike not an ARN", "ArnLike", "aws:RequestTag/cisecs:image", []string{"*"}, false},
		{"ArnNotLike", "ArnNotLike", "ecs:cluster", []string{"arn:aws:ecs:*:*:cluster/default"}, true},
		{"Bool", "Bool", "kms:GrantIsForAWSResource", []string{"true"}, true},
		{"Bool false", "Bool", "kms:GrantIsForAWSResource", []string{"false"}, false},
		{"Bool absent", "Bool", "aws:SecureTransport", []string{"false"}, false},
		{"Null false, present", "Null", "aws:RequestTag/cisecs:image", []string{"false"}, true},
		{"Null false, absent", "Null", "aws:RequestTag/other", []string{"false"}, false},
		{"Null true, absent", "Null", "aws:RequestTag/other", []string{"true"}, true},
		{"Null true, present", "Null", "aws:RequestTag/cisecs:image", []string{"true"}, false},
		{"IfExists absent", "StringEqualsIfExists", "aws:RequestTag/other", []string{"x"}, true},
		{"IfExists present, no match", "StringEqualsIfExists", "aws:RequestTag/cisecs:image", []string{"x"}, false},
		{"IfExists present, match", "StringLikeIfExists", "aws:RequestTag/cisecs:image", []string{"al*"}, true},
		{"ForAllValues all in", "ForAllValues:StringEquals", "aws:TagKeys", []string{"Name", "cisecs:image", "x"}, true},
		{"ForAllValues one out", "ForAllValues:StringEquals", "aws:TagKeys", []string{"cisecs:image"}, false},
		{"ForAllValues absent is true", "ForAllValues:StringEquals", "aws:Other", []string{"x"}, true},
		{"ForAllValues empty is true", "ForAllValues:StringEquals", "aws:EmptySet", []string{"x"}, true},
		{"ForAllValues StringNotEquals", "ForAllValues:StringNotEquals", "aws:TagKeys", []string{"cisecs:run-id"}, true},
		{"ForAllValues StringNotEquals one in", "ForAllValues:StringNotEquals", "aws:TagKeys", []string{"Name"}, false},
		{"ForAllValues StringLike", "ForAllValues:StringLike", "aws:TagKeys", []string{"cisecs:*", "N*"}, true},
		{"ForAnyValue one in", "ForAnyValue:StringEquals", "aws:TagKeys", []string{"Name"}, true},
		{"ForAnyValue none in", "ForAnyValue:StringEquals", "aws:TagKeys", []string{"x"}, false},
		{"ForAnyValue absent is false", "ForAnyValue:StringEquals", "aws:Other", []string{"x"}, false},
		{"ForAnyValue IfExists absent", "ForAnyValue:StringEqualsIfExists", "aws:Other", []string{"x"}, true},
		{"ForAnyValue StringNotEquals", "ForAnyValue:StringNotEquals", "aws:TagKeys", []string{"Name"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := condition(tt.op, tt.key, tt.want, ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.holds {
				t.Errorf("%s %s %q = %v, want %v", tt.op, tt.key, tt.want, got, tt.holds)
			}
		})
	}
}

func TestConditionUnknownOperator(t *testing.T) {
	tests := []struct{ name, op string }{
		{"numeric", "NumericLessThan"},
		{"date", "DateGreaterThan"},
		{"misspelt", "StringEqual"},
		{"bad Null value", "Null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := condition(tt.op, "aws:TagKeys", []string{"maybe"}, nil); err == nil {
				t.Errorf("condition %s: no error", tt.op)
			}
		})
	}
	d := EvaluateRules([]Rule{allow("A", []string{"*"}, []string{"*"}, map[string]map[string][]string{"NumericLessThan": {"k": {"1"}}})},
		Check{Action: "ec2:RunInstances", Resource: "*"})
	if d.Allowed || !strings.Contains(d.Reason, "NumericLessThan") {
		t.Errorf("a statement with an unmodelled operator: %+v, want a deny that names it", d)
	}
}

func TestEvaluatePolicy(t *testing.T) {
	p := iampolicy.Policy{Version: iampolicy.Version, Statement: []iampolicy.Statement{{
		Sid: "Tagged", Effect: "Allow", Action: []string{"ec2:RunInstances"}, Resource: []string{"arn:aws:ec2:*:*:instance/*"},
		Condition: map[string]map[string][]string{"Null": {"aws:RequestTag/cisecs:image": {"false"}}},
	}}}
	tests := []struct {
		name  string
		ctx   map[string][]string
		allow bool
	}{
		{"tagged", map[string][]string{"aws:RequestTag/cisecs:image": {"x"}}, true},
		{"untagged", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(p, Check{Action: "ec2:RunInstances", Resource: "arn:aws:ec2:us-east-1:1:instance/*", Context: tt.ctx})
			if d.Allowed != tt.allow {
				t.Errorf("Evaluate = %+v, want allowed %v", d, tt.allow)
			}
			if !tt.allow && !strings.Contains(d.Reason, "aws:RequestTag/cisecs:image") {
				t.Errorf("reason %q does not name the failed condition", d.Reason)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		ok   bool
	}{
		{"*", "", true}, {"*", "*a", true}, {"a*b", "ab", true}, {"a*b", "axxb", true}, {"a*b", "axxbc", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*a*a*", "banana", true}, {"", "", true}, {"", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.p+"~"+tt.s, func(t *testing.T) {
			if got := glob(tt.p, tt.s); got != tt.ok {
				t.Errorf("glob(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.ok)
			}
		})
	}
}
