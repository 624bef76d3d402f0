package iampolicy_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/pipeline"
)

var readme = flag.String("readme", filepath.Join("..", "README.md"), "the README whose gate commands TestDocumentedGateCommands checks")

// exampleAccount stands for the "..." of a documented ARN.
const exampleAccount = "123456789012"

// invocation is one documented "cisecs validate --backend aws": where it
// is and the flags it passes, with what each value resolves to (several
// values when the workflow's matrix gives one per image).
type invocation struct {
	at    string
	flags map[string][]string
}

// request is one call the gate makes with a documented value, as IAM
// evaluates it.
type request struct {
	flag, value string
	action      string
	resource    string
	context     map[string]string
}

// checkedFlags are the flags whose values requests checks.
var checkedFlags = []string{"--instance-profile", "--task-role-arn", "--execution-role-arn", "--publish-parameter"}

// requests are the calls the gate makes with the values inv passes, each
// of which the validator policy must allow:
//
//   - --instance-profile: iam:PassRole on the profile's role, to EC2. The
//     README documents a profile that holds the role of its name (as the
//     IAM console makes them), so the role is named after the profile;
//   - --task-role-arn and --execution-role-arn: iam:PassRole, to ECS tasks;
//   - --publish-parameter: ssm:GetParameter and ssm:PutParameter on it.
func (inv invocation) requests() []request {
	var out []request
	for _, v := range inv.flags["--instance-profile"] {
		name := v
		if strings.HasPrefix(v, "arn:") {
			name = v[strings.LastIndex(v, "/")+1:]
		}
		out = append(out, request{flag: "--instance-profile", value: v, action: "iam:PassRole",
			resource: "arn:aws:iam::" + exampleAccount + ":role/" + name,
			context:  map[string]string{"iam:PassedToService": "ec2.amazonaws.com"}})
	}
	for _, f := range []string{"--task-role-arn", "--execution-role-arn"} {
		for _, v := range inv.flags[f] {
			if v == "" {
				continue // optional: no role passed
			}
			out = append(out, request{flag: f, value: v, action: "iam:PassRole", resource: v,
				context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}})
		}
	}
	for _, v := range inv.flags["--publish-parameter"] {
		arn := "arn:aws:ssm:us-east-1:" + exampleAccount + ":parameter"
		if !strings.HasPrefix(v, "/") {
			arn += "/"
		}
		for _, a := range []string{"ssm:GetParameter", "ssm:PutParameter"} {
			out = append(out, request{flag: "--publish-parameter", value: v, action: a, resource: arn + v})
		}
	}
	return out
}

// denials checks every request of invs against p, and returns one line
// per request p does not allow.
func denials(t *testing.T, p iampolicy.Policy, invs []invocation) []string {
	t.Helper()
	var out []string
	for _, inv := range invs {
		for _, r := range inv.requests() {
			ok, err := allows(p, r.action, r.resource, r.context)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				out = append(out, fmt.Sprintf("%s: %s %s: %s on %s is denied", inv.at, r.flag, r.value, r.action, r.resource))
			}
		}
	}
	return out
}

// TestDocumentedGateCommands checks every "cisecs validate --backend aws"
// the project documents, in README.md's sh blocks and in the workflow
// "cisecs pipeline" renders, against the validator policy: each role it
// passes, each parameter it publishes to, must be one the policy allows.
// The workflow takes its values from the image definitions (the matrix)
// and from repository variables; for a variable the README's example
// ("`NAME` (like `VALUE`)") is checked, and a variable the README gives
// no example for is an error: nobody can tell what to set it to.
func TestDocumentedGateCommands(t *testing.T) {
	src, err := os.ReadFile(*readme)
	if err != nil {
		t.Fatal(err)
	}
	p := iampolicy.ValidatorPolicy()

	fromReadme := readmeInvocations(*readme, string(src))
	if len(fromReadme) == 0 {
		t.Errorf("%s: no sh block runs cisecs validate --backend aws", *readme)
	}
	fromWorkflow, err := workflowInvocations(t, string(src))
	if err != nil {
		t.Error(err)
	}
	if len(fromWorkflow) == 0 {
		t.Error("the rendered workflow runs no cisecs validate --backend aws")
	}
	invs := append(fromReadme, fromWorkflow...)
	checked := 0
	for _, inv := range invs {
		for _, f := range []string{"--instance-profile", "--task-role-arn", "--publish-parameter"} {
			if _, ok := inv.flags[f]; !ok {
				t.Errorf("%s: passes no %s: nothing to check it by", inv.at, f)
			}
		}
		checked += len(inv.requests())
	}
	for _, d := range denials(t, p, invs) {
		t.Error(d)
	}
	t.Logf("%d invocations, %d requests checked", len(invs), checked)
}

// TestDocumentedGateCommandsCatch breaks a documented command the way the
// README once did (the ECS console's ecsInstanceRole) and in the ways a
// reader might (a task role and a parameter out of the policy's reach),
// and checks that the check names each one.
func TestDocumentedGateCommandsCatch(t *testing.T) {
	const broken = "# Run\n\n```sh\nmake build\n" +
		"./_bin/cisecs validate --backend aws --region eu-west-1 --ami ami-... \\\n" +
		"  --subnet subnet-... --security-group sg-... --instance-profile ecsInstanceRole \\\n" +
		"  --task-role-arn arn:aws:iam::...:role/ecsTaskRole \\\n" +
		"  --execution-role-arn=arn:aws:iam::...:role/cisecs-exec \\\n" +
		"  --publish-parameter \"/images/al2023/ami-id\" --report gate.json\n```\n"
	invs := readmeInvocations("broken.md", broken)
	if len(invs) != 1 {
		t.Fatalf("found %d invocations, want 1", len(invs))
	}
	got := denials(t, iampolicy.ValidatorPolicy(), invs)
	want := []string{
		"broken.md:5: --instance-profile ecsInstanceRole: iam:PassRole on arn:aws:iam::123456789012:role/ecsInstanceRole is denied",
		"broken.md:5: --task-role-arn arn:aws:iam::123456789012:role/ecsTaskRole: iam:PassRole on arn:aws:iam::123456789012:role/ecsTaskRole is denied",
		"broken.md:5: --publish-parameter /images/al2023/ami-id: ssm:GetParameter on arn:aws:ssm:us-east-1:123456789012:parameter/images/al2023/ami-id is denied",
		"broken.md:5: --publish-parameter /images/al2023/ami-id: ssm:PutParameter on arn:aws:ssm:us-east-1:123456789012:parameter/images/al2023/ami-id is denied",
	}
	if !slices.Equal(got, want) {
		t.Errorf("denials:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// The same roles passed to the wrong service are denied too.
	p := iampolicy.ValidatorPolicy()
	role := "arn:aws:iam::" + exampleAccount + ":role/cisecs-gate-instance"
	if ok, _ := allows(p, "iam:PassRole", role, map[string]string{"iam:PassedToService": "lambda.amazonaws.com"}); ok {
		t.Errorf("PassRole of %s to Lambda is allowed", role)
	}
	if ok, _ := allows(p, "iam:PassRole", role, map[string]string{"iam:PassedToService": "ec2.amazonaws.com"}); !ok {
		t.Errorf("PassRole of %s to EC2 is denied", role)
	}
}

// gateCommand finds the gate on AWS in a command line.
var gateCommand = regexp.MustCompile(`cisecs validate\b.*--backend[ =]aws\b`)

// readmeInvocations returns the gate commands in md's ```sh blocks, "..."
// in an ARN standing for exampleAccount.
func readmeInvocations(name, md string) []invocation {
	var out []invocation
	lines := strings.Split(md, "\n")
	inSh := false
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(l, "```"):
			inSh = !inSh && (l == "```sh" || l == "```bash" || l == "```shell")
			continue
		case !inSh:
			continue
		}
		at := fmt.Sprintf("%s:%d", name, i+1)
		cmd, n := joinContinued(lines[i:])
		i += n - 1
		if !gateCommand.MatchString(cmd) {
			continue
		}
		flags := map[string][]string{}
		for f, v := range parseFlags(shellWords(cmd)) {
			flags[f] = []string{strings.Replace(v, "::...:", "::"+exampleAccount+":", 1)}
		}
		out = append(out, invocation{at: at, flags: flags})
	}
	return out
}

// joinContinued joins lines[0] with the lines its trailing backslashes
// continue it onto, and says how many lines that took.
func joinContinued(lines []string) (string, int) {
	var b strings.Builder
	for n, l := range lines {
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), `\`); ok {
			b.WriteString(s + " ")
			continue
		}
		b.WriteString(l)
		return b.String(), n + 1
	}
	return b.String(), len(lines)
}

// shellWords splits a command line into words: blanks separate them,
// quotes group them, a comment ends the line.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return words
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// parseFlags returns the --flag value and --flag=value pairs of words.
func parseFlags(words []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "--") {
			continue
		}
		if f, v, ok := strings.Cut(w, "="); ok {
			flags[f] = v
			continue
		}
		if i+1 < len(words) && !strings.HasPrefix(words[i+1], "--") {
			flags[w] = words[i+1]
			i++
			continue
		}
		flags[w] = "true"
	}
	return flags
}

// workflowInvocations renders the workflow of every image definition and
// returns its gate commands, each flag's value resolved: a shell variable
// through the env of its step and job, ${{ matrix.image.X }} to every
// image's X, ${{ vars.X }} to the example md gives for X.
func workflowInvocations(t *testing.T, md string) ([]invocation, error) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "images", "*.hcl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("image definitions: %v (found %d)", err, len(paths))
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatalf("image definitions: %v", err)
	}
	for i := range imgs {
		imgs[i].File = filepath.ToSlash(filepath.Join("images", filepath.Base(imgs[i].File)))
	}
	wf, err := pipeline.Render(pipeline.GitHub, imgs)
	if err != nil {
		t.Fatalf("render the workflow: %v", err)
	}

	// The matrix: the JSON line of every image (the workflow lists them
	// for the source jobs and again for the plan).
	var matrix []map[string]any
	seen := map[any]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(wf)))
	for sc.Scan() {
		l := strings.TrimSuffix(strings.TrimSpace(sc.Text()), ",")
		if !strings.HasPrefix(l, `{"name":`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("workflow matrix line %q: %v", l, err)
		}
		if seen[m["name"]] {
			continue
		}
		seen[m["name"]] = true
		matrix = append(matrix, m)
	}
	if len(matrix) != len(imgs) {
		t.Fatalf("the workflow's matrix holds %d images, want %d", len(matrix), len(imgs))
	}

	var out []invocation
	var problems []string
	lines := strings.Split(string(wf), "\n")
	for i := 0; i < len(lines); i++ {
		cmd, n := joinContinued(lines[i:])
		if !gateCommand.MatchString(cmd) || strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
			i += n - 1
			continue
		}
		at := fmt.Sprintf("workflow:%d", i+1)
		env := workflowEnv(lines, i)
		flags := map[string][]string{}
		passed := parseFlags(shellWords(cmd))
		for _, f := range checkedFlags {
			v, ok := passed[f]
			if !ok {
				continue
			}
			vals, err := resolve(v, env, matrix, md)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s %s: %v", at, f, v, err))
				vals = []string{} // passed, not checkable
			}
			flags[f] = vals
		}
		out = append(out, invocation{at: at, flags: flags})
		i += n - 1
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return out, nil
}

// workflowEnv returns the env entries in scope at line i: those of each
// env: map above it that no line in between leaves (by indenting less):
// its step's and its job's; the nearest wins.
func workflowEnv(lines []string, i int) map[string]string {
	env := map[string]string{}
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	least := indent(lines[i]) // the least indentation between j and i
	for j := i - 1; j >= 0; j-- {
		l := lines[j]
		if strings.TrimSpace(l) == "" {
			continue
		}
		in := indent(l)
		if strings.TrimSpace(l) == "env:" && in <= least {
			for k := j + 1; k < len(lines) && indent(lines[k]) > in; k++ {
				key, v, ok := strings.Cut(strings.TrimSpace(lines[k]), ": ")
				if _, seen := env[key]; ok && !seen {
					env[key] = strings.TrimSpace(v)
				}
			}
		}
		least = min(least, in)
	}
	return env
}

var (
	shellVar   = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$`)
	expression = regexp.MustCompile(`^\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$`)
)

// resolve returns the values v stands for.
func resolve(v string, env map[string]string, matrix []map[string]any, md string) ([]string, error) {
	if m := shellVar.FindStringSubmatch(v); m != nil {
		e, ok := env[m[1]]
		if !ok {
			return nil, fmt.Errorf("$%s is set by no env in scope", m[1])
		}
		v = e
	}
	m := expression.FindStringSubmatch(v)
	if m == nil {
		return []string{v}, nil
	}
	switch x := m[1]; {
	case strings.HasPrefix(x, "matrix.image."):
		var out []string
		for _, img := range matrix {
			s, ok := img[strings.TrimPrefix(x, "matrix.image.")].(string)
			if !ok {
				return nil, fmt.Errorf("${{ %s }}: not a string in the matrix", x)
			}
			out = append(out, s)
		}
		return out, nil
	case strings.HasPrefix(x, "vars."):
		name := strings.TrimPrefix(x, "vars.")
		ex := regexp.MustCompile("`" + regexp.QuoteMeta(name) + "`\\s+\\(like\\s+`([^`]+)`").FindStringSubmatch(md)
		if ex == nil {
			return nil, fmt.Errorf("the README gives no example for the repository variable %s (\"`%s` (like `...`)\"): nobody can tell what to set it to", name, name)
		}
		return []string{strings.Replace(ex[1], "::...:", "::"+exampleAccount+":", 1)}, nil
	}
	return nil, nil // a value of the run (the AMI id, the run id): not the policy's business
}

// allows says whether p allows action on resource, given the request's
// condition keys, as IAM evaluates an identity policy of Allow statements:
// some statement whose Action and Resource match and whose every
// condition holds. It fails on a condition operator it does not know.
func allows(p iampolicy.Policy, action, resource string, ctx map[string]string) (bool, error) {
	for _, s := range p.Statement {
		if s.Effect != "Allow" ||
			!slices.ContainsFunc(s.Action, func(a string) bool { return wildcard(strings.ToLower(a), strings.ToLower(action)) }) ||
			!slices.ContainsFunc(s.Resource, func(r string) bool { return wildcard(r, resource) }) {
			continue
		}
		ok, err := conditionsHold(s.Condition, ctx)
		if err != nil {
			return false, fmt.Errorf("%s: %w", s.Sid, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func conditionsHold(cond map[string]map[string][]string, ctx map[string]string) (bool, error) {
	for op, keys := range cond {
		for key, vals := range keys {
			v, present := ctx[key]
			var ok bool
			switch op {
			case "StringEquals", "Bool":
				ok = present && slices.Contains(vals, v)
			case "StringLike", "ArnLike":
				ok = present && slices.ContainsFunc(vals, func(p string) bool { return wildcard(p, v) })
			case "ForAllValues:StringEquals":
				ok = !present || slices.Contains(vals, v)
			case "Null":
				ok = slices.Equal(vals, []string{fmt.Sprint(!present)})
			default:
				return false, fmt.Errorf("condition operator %q: the check does not know it", op)
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

// wildcard matches s against an IAM pattern: * is any run of characters
// ('/' and ':' included), ? any one.
func wildcard(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcard(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcard(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && wildcard(pattern[1:], s[1:])
}
