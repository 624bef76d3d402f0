package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/pipeline"
)

func TestPipelinePrintsTheShippedImagesWorkflow(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	code, stdout, stderr := runCmd(t, "pipeline")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	paths, err := images.Files("images")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pipeline.Render(pipeline.GitHub, imgs)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Errorf("stdout is not the workflow Render renders for the shipped images:\n%s", stdout)
	}
	if _, again, _ := runCmd(t, "pipeline", "--ci", "github"); again != stdout {
		t.Error("a second run printed different bytes")
	}
}

// TestPipelineWritesFile: -o writes the workflow where it is told, making
// the directories it needs (a repository without .github).
func TestPipelineWritesFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/one.hcl": definition("one", "al2023", "x86_64", "us-east-1"),
		"images/two.hcl": definition("two", "ubuntu2404", "arm64", "eu-west-1"),
	})
	t.Chdir(dir)
	if _, err := os.Stat(".github"); !os.IsNotExist(err) {
		t.Fatalf(".github is there before the run (%v): the test needs a repository without it", err)
	}
	out := filepath.Join(".github", "workflows", "cisecs-nightly.yml")
	code, stdout, stderr := runCmd(t, "pipeline", "-o", out, "images/two.hcl")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if stdout != out+"\n" {
		t.Errorf("stdout = %q, want the file's path", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wf := string(b)
	if !strings.Contains(wf, `"name":"two","region":"eu-west-1","ssm_parameter":"/cisecs/two/ami-id","definition":"images/two.hcl"`) || strings.Contains(wf, `"name":"one"`) {
		t.Errorf("the workflow does not hold image two alone:\n%s", wf)
	}
}

// TestPipelineKeepsPinsAndWritesDependabot: rewriting the workflow keeps a
// pin Dependabot moved on; --dependabot writes the configuration.
func TestPipelineKeepsPinsAndWritesDependabot(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"images/one.hcl": definition("one", "al2023", "x86_64", "us-east-1")})
	t.Chdir(dir)
	out := filepath.Join(".github", "workflows", "cisecs-nightly.yml")
	if code, _, stderr := runCmd(t, "pipeline", "-o", out); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	const bumped = "aws-actions/configure-aws-credentials@0123456789abcdef0123456789abcdef01234567 # v6.9.0"
	moved := regexp.MustCompile(`aws-actions/configure-aws-credentials@[0-9a-f]{40} # v[0-9.]+`).ReplaceAllString(string(b), bumped)
	if moved == string(b) {
		t.Fatal("no configure-aws-credentials pin to move")
	}
	if err := os.WriteFile(out, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "pipeline", "-o", out); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if again, _ := os.ReadFile(out); string(again) != moved {
		t.Errorf("the rewritten workflow lost the moved pin:\n%s", again)
	}
	cfg := filepath.Join(".github", "dependabot.yml")
	if code, _, stderr := runCmd(t, "pipeline", "--dependabot", "-o", cfg); code != 0 {
		t.Fatalf("--dependabot: exit %d, stderr:\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(cfg); string(got) != pipeline.DependabotConfig {
		t.Errorf("%s holds %q, want the Dependabot configuration", cfg, got)
	}
	if code, _, stderr := runCmd(t, "pipeline", "--dependabot", "images/one.hcl"); code != 2 || !strings.Contains(stderr, "--dependabot takes no definitions") {
		t.Errorf("--dependabot with a definition: exit %d, %q; want 2", code, stderr)
	}
}

func TestPipelineBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/good.hcl": definition("good", "al2023", "x86_64", "us-east-1"),
		"images/bad.hcl":  "image \"bad\" {\n  region = \"moon-1\"\n}\n",
	})
	t.Chdir(dir)
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"unknown ci", []string{"pipeline", "--ci", "gitlab", "-o", "wf.yml"}, "cisecs pipeline: --ci: ci \"gitlab\": want one of github\n"},
		{"empty ci", []string{"pipeline", "--ci", "", "-o", "wf.yml"}, "cisecs pipeline: --ci: ci \"\": want one of github\n"},
		{"bad definition", []string{"pipeline", "-o", "wf.yml"}, `images/bad.hcl:1:1: base: required block is missing: base { owners = [...], name = "...", architecture = "...", os = "..." }
images/bad.hcl:2:12: region: "moon-1" is not an AWS region name such as us-east-1
cisecs pipeline: 2 problem(s) in the image definitions; nothing written
`},
		{"missing definition", []string{"pipeline", "-o", "wf.yml", "images/nope.hcl"}, "images/nope.hcl: cannot read the definition: open images/nope.hcl: no such file or directory\ncisecs pipeline: 1 problem(s) in the image definitions; nothing written\n"},
		{"definition outside the repository", []string{"pipeline", "-o", "wf.yml", filepath.Join(dir, "images", "good.hcl")}, "cisecs pipeline: image \"good\": definition \"" + filepath.Join(dir, "images", "good.hcl") + "\": give its path from the repository root, where the workflow runs\n"},
		{"unexpected flag", []string{"pipeline", "-x"}, "flag provided but not defined: -x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.HasPrefix(stderr, tc.stderr) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", stderr, tc.stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if _, err := os.Stat("wf.yml"); !os.IsNotExist(err) {
				t.Errorf("wf.yml written: %v", err)
			}
		})
	}
}

func TestIAMPolicy(t *testing.T) {
	for _, role := range iampolicy.Roles() {
		t.Run(string(role), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "iam-policy", string(role))
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			p, err := iampolicy.For(role)
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if stdout != string(want) {
				t.Errorf("stdout is not the %s policy:\n%s", role, stdout)
			}
			var got iampolicy.Policy
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			for i := range p.Statement {
				p.Statement[i].Why = ""
			}
			if !reflect.DeepEqual(got, p) {
				t.Error("the printed policy does not read back as the policy")
			}

			code, stdout, _ = runCmd(t, "iam-policy", "--explain", string(role))
			if code != 0 || strings.Count(stdout, "\n") != len(p.Statement) || !strings.HasPrefix(stdout, p.Statement[0].Sid+": ") {
				t.Errorf("--explain: exit %d, want one line per statement:\n%s", code, stdout)
			}
		})
	}
}

func TestIAMPolicyUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no role", []string{"iam-policy"}, "cisecs iam-policy: want one role: build-instance, builder, validator\n"},
		{"two roles", []string{"iam-policy", "builder", "validator"}, "cisecs iam-policy: want one role: build-instance, builder, validator\n"},
		{"unknown role", []string{"iam-policy", "admin"}, "cisecs iam-policy: role \"admin\": want builder, validator or build-instance\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != 2 || stderr != tc.stderr || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, %q", code, stdout, stderr, tc.stderr)
			}
		})
	}
}
