// Package iameval evaluates API requests against an identity policy as
// IAM does, one authorization check at a time, so that a test can say
// which call, on which resource, with which condition values, a policy
// refuses.
//
// It has two halves. Evaluate decides one Check (an action, a resource
// and the request context) against a policy. Expand turns one recorded
// API request into every Check IAM makes for it: RunInstances is
// authorized once per resource it touches, tags given at creation add an
// ec2:CreateTags check, an instance profile adds iam:PassRole on its
// role, and so on (see Expand).
//
// What Evaluate models, from AWS's IAM User Guide:
//
//   - "Policy evaluation logic" (reference_policies_evaluation-logic):
//     an explicit Deny in any statement wins; otherwise an Allow whose
//     Action, Resource and Condition all match allows; otherwise the
//     request is denied by default. Only identity policies are evaluated
//     (no SCPs, permissions boundaries, session or resource policies).
//   - "IAM JSON policy elements: Action, NotAction, Resource,
//     NotResource": * and ? wildcards; actions match case-insensitively,
//     resources case-sensitively, a * running over colons ("arn:aws:ec2:*"
//     is every EC2 resource).
//   - "IAM JSON policy elements: Condition operators"
//     (reference_policies_elements_condition_operators): StringEquals,
//     StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
//     StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike,
//     ArnNotLike, Bool and Null, with the ...IfExists suffix. A key absent
//     from the request context makes a condition false, except that a
//     negated operator (StringNot..., ArnNot...) is then true, IfExists is
//     then true, and Null tests exactly that absence.
//   - "Conditions with multiple context keys or values"
//     (reference_policies_multi-value-conditions): operators and keys are
//     ANDed, the values of one key ORed (NORed for a negated operator);
//     ForAllValues: is true when every value in the request matches (and
//     when the key is absent or empty), ForAnyValue: when at least one
//     does (false when the key is absent).
//   - "IAM policy elements: Variables and tags"
//     (reference_policies_variables): ${key} in a resource or a condition
//     value is replaced by the key's single value in the context; ${*},
//     ${?} and ${$} stand for the literal characters; a key the context
//     does not hold makes that resource or value match nothing.
//   - Condition key names are case-insensitive, their values are not
//     ("IAM JSON policy elements: Condition", reference_policies_elements_condition).
//
// The pages, under https://docs.aws.amazon.com/IAM/latest/UserGuide/:
// reference_policies_evaluation-logic.html,
// reference_policies_elements_condition_operators.html,
// reference_policies_multi-value-conditions.html,
// reference_policies_variables.html and
// reference_policies_elements_condition.html; Expand's models follow
// https://docs.aws.amazon.com/service-authorization/latest/reference/
// (list_amazonec2.html, list_awsidentityandaccessmanagementiam.html,
// list_awssystemsmanager.html, list_amazonelasticcontainerservice.html).
//
// Not modelled: the Numeric, Date, IpAddress and Binary operators (an
// unknown operator makes its statement match nothing, and Decision.Reason
// says so), Principal and NotPrincipal (identity policies have none), and
// the limits IAM puts on a document's size.
//
// iampolicy.Statement has no NotAction or NotResource; Rule carries them,
// and EvaluateRules decides a Check against rules written with them.
package iameval

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cisecs/cisecs/iampolicy"
)

// Check is one authorization IAM makes: an action on a resource, with the
// request context (condition key -> values). Keys are as IAM spells them
// (aws:RequestTag/cisecs:image, aws:TagKeys, ec2:CreateAction,
// iam:PassedToService, ssm:resourceTag/cisecs:image, aws:userid, ...); a
// key absent from Context is absent from the request.
type Check struct {
	Action, Resource string
	Context          map[string][]string
}

// String says the check in one line: the action, the resource and the
// context keys in name order.
func (c Check) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s", c.Action, c.Resource)
	keys := sortedKeys(c.Context)
	if len(keys) > 0 {
		b.WriteString(" with")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, c.Context[k])
		}
	}
	return b.String()
}

// Decision is IAM's answer to a Check.
type Decision struct {
	Allowed bool
	// Explicit is true when a Deny statement matched.
	Explicit bool
	// Sid is the statement that allowed, or explicitly denied; empty for
	// a default deny.
	Sid string
	// Reason says why, in words.
	Reason string
}

// Rule is a statement as IAM reads it, with the negated elements
// iampolicy.Statement does not have. Exactly one of Action and NotAction
// is set, and one of Resource and NotResource.
type Rule struct {
	Sid, Effect           string
	Action, NotAction     []string
	Resource, NotResource []string
	Condition             map[string]map[string][]string
}

// Rules are p's statements as rules.
func Rules(p iampolicy.Policy) []Rule {
	out := make([]Rule, 0, len(p.Statement))
	for _, s := range p.Statement {
		out = append(out, Rule{Sid: s.Sid, Effect: s.Effect, Action: s.Action, Resource: s.Resource, Condition: s.Condition})
	}
	return out
}

// Evaluate decides c against the identity policy p, as IAM does: an
// explicit deny wins, then an allow, else the default deny.
func Evaluate(p iampolicy.Policy, c Check) Decision {
	return EvaluateRules(Rules(p), c)
}

// EvaluateRules decides c against rules, as Evaluate does.
func EvaluateRules(rules []Rule, c Check) Decision {
	var allow *Rule
	var notes []string
	for i := range rules {
		r := &rules[i]
		ok, why := r.matches(c)
		if why != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", sidOf(r), why))
		}
		if !ok {
			continue
		}
		if strings.EqualFold(r.Effect, "Deny") {
			return Decision{Explicit: true, Sid: r.Sid, Reason: fmt.Sprintf("explicitly denied by %s", sidOf(r))}
		}
		if allow == nil && strings.EqualFold(r.Effect, "Allow") {
			allow = r
		}
	}
	if allow != nil {
		return Decision{Allowed: true, Sid: allow.Sid, Reason: fmt.Sprintf("allowed by %s", sidOf(allow))}
	}
	reason := "no statement allows it (default deny)"
	if len(notes) > 0 {
		reason += "; " + strings.Join(notes, "; ")
	}
	return Decision{Reason: reason}
}

func sidOf(r *Rule) string {
	if r.Sid == "" {
		return "a statement without Sid"
	}
	return r.Sid
}

// matches says whether r applies to c. When the action and resource match
// but the condition does not, why names the condition that failed.
func (r *Rule) matches(c Check) (ok bool, why string) {
	if len(r.Action) > 0 && !anyMatch(r.Action, c.Action, matchAction) {
		return false, ""
	}
	if len(r.NotAction) > 0 && anyMatch(r.NotAction, c.Action, matchAction) {
		return false, ""
	}
	if len(r.Action) == 0 && len(r.NotAction) == 0 {
		return false, ""
	}
	res := func(p, v string) bool {
		p, ok := substitute(p, c.Context, resourceEscape)
		return ok && matchResource(p, v)
	}
	if len(r.Resource) > 0 && !anyMatch(r.Resource, c.Resource, res) {
		return false, ""
	}
	if len(r.NotResource) > 0 && anyMatch(r.NotResource, c.Resource, res) {
		return false, ""
	}
	if len(r.Resource) == 0 && len(r.NotResource) == 0 {
		return false, ""
	}
	for _, op := range sortedKeys(r.Condition) {
		for _, key := range sortedKeys(r.Condition[op]) {
			held, err := condition(op, key, r.Condition[op][key], c.Context)
			if err != nil {
				return false, err.Error()
			}
			if !held {
				return false, fmt.Sprintf("%s %s %q does not hold (request: %s)", op, key, r.Condition[op][key], describe(lookup(c.Context, key)))
			}
		}
	}
	return true, ""
}

func describe(v []string, present bool) string {
	if !present {
		return "absent"
	}
	return fmt.Sprintf("%q", v)
}

func anyMatch(patterns []string, v string, match func(p, v string) bool) bool {
	for _, p := range patterns {
		if match(p, v) {
			return true
		}
	}
	return false
}

// matchAction matches an action pattern (service:Name, wildcards) to an
// action, ignoring case.
func matchAction(p, a string) bool {
	return glob(strings.ToLower(p), strings.ToLower(a))
}

// matchResource matches a Resource element to a resource: a glob over
// the whole ARN, so that "arn:aws:ec2:*" covers every EC2 resource (IAM
// documents the Resource element's wildcards as matching any run of
// characters; only the ArnLike family compares segment by segment).
func matchResource(p, r string) bool {
	return glob(p, r)
}

// matchARN is ArnLike: both split into their six colon-separated segments
// (the sixth keeps its colons), each segment globbed.
func matchARN(p, r string) bool {
	ps, rs := strings.SplitN(p, ":", 6), strings.SplitN(r, ":", 6)
	if p == "*" {
		return true
	}
	if len(ps) != 6 || len(rs) != 6 {
		return false
	}
	for i := range ps {
		if !glob(ps[i], rs[i]) {
			return false
		}
	}
	return true
}

// glob matches s against p, where * is any run of characters (none
// included) and ? is any one character.
func glob(p, s string) bool {
	// Iterative, with backtracking to the last star only: linear enough
	// for policy patterns.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || literal(p[pi]) == s[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// literal is the character a pattern byte stands for when it is not a
// wildcard.
func literal(c byte) byte {
	switch c {
	case literalStar:
		return '*'
	case literalQuestion:
		return '?'
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
