package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/pipeline"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/due"
)

// sourceDefinition is a definition of the image name on base AMIs named
// "CIS Test Linux <arch> *" of arch, released to /cisecs-cmd-test/PARAM.
func sourceDefinition(name, arch, param string) string {
	return fmt.Sprintf(`image %q {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Test Linux %s *"
    architecture = %q
    os           = "al2023"
  }
  region        = "eu-west-1"
  ssm_parameter = "/cisecs-cmd-test/%s"
}
`, name, arch, arch, param)
}

// sourceRun is one run of cisecs source against the emulator.
type sourceRun struct {
	code           int
	stdout, stderr string
	regions        []string // the regions Checkers were made for
}

// runSourceEmulated runs, in a synctest bubble with a front made with o
// (awssim.Bubble), setup for the releases and then cisecs source with
// args.
func runSourceEmulated(t *testing.T, o awssim.Options, setup func(t *testing.T, front *awssim.Server, ssmc *ssm.Client), args ...string) sourceRun {
	t.Helper()
	var r sourceRun
	awssim.Bubble(t, o, func(t *testing.T, front *awssim.Server) {
		ec2c, _, ssmc := front.Clients()
		if setup != nil {
			setup(t, front, ssmc)
		}
		var stdout, stderr bytes.Buffer
		r.code = sourceMain(t.Context(), args, &stdout, &stderr, func(_ context.Context, region string) (due.Checker, error) {
			r.regions = append(r.regions, region)
			return due.Checker{EC2: ec2c, SSM: ssmc, Region: region}, nil
		})
		r.stdout, r.stderr = stdout.String(), stderr.String()
	})
	return r
}

// TestSourceCommand runs cisecs source as the workflow does, on one image
// and on several, and on the inputs it must refuse.
func TestSourceCommand(t *testing.T) {
	day := func(n int) time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -n) }
	catalogue := []awssim.Image{
		{ID: "ami-0b000000000000001", Name: "CIS Test Linux x86_64 v1", Owner: "679593333241", OwnerAlias: "aws-marketplace", Created: day(40)},
		{ID: "ami-0b000000000000002", Name: "CIS Test Linux x86_64 v2", Owner: "679593333241", OwnerAlias: "aws-marketplace", Created: day(10)},
		{ID: "ami-0b000000000000003", Name: "CIS Test Linux arm64 v1", Owner: "679593333241", OwnerAlias: "aws-marketplace", Architecture: "arm64", Created: day(10)},
	}
	dir := t.TempDir()
	param := strings.ReplaceAll(t.Name(), "/", "-")
	writeFiles(t, dir, map[string]string{
		"images/alpha.hcl": sourceDefinition("alpha", "x86_64", param+"-alpha"),
		"images/beta.hcl":  sourceDefinition("beta", "arm64", param+"-beta"),
		"images/gamma.hcl": sourceDefinition("gamma", "riscv", param+"-gamma"),
	})
	alpha, beta := filepath.Join(dir, "images/alpha.hcl"), filepath.Join(dir, "images/beta.hcl")
	// releaseAlpha makes alpha's last release, built from v2 with the
	// definition as it is: alpha is up to date.
	releaseAlpha := func(t *testing.T, front *awssim.Server, ssmc *ssm.Client) {
		t.Helper()
		imgs, code := loadImages("test", []string{alpha}, "", os.Stderr)
		if code != 0 {
			t.Fatal("alpha does not load")
		}
		front.AddImage(awssim.Image{ID: "ami-0c000000000000001", Name: "cisecs-alpha", Tags: map[string]string{
			release.TagSourceAMI:        "ami-0b000000000000002",
			release.TagSourceAMIName:    "CIS Test Linux x86_64 v2",
			release.TagDefinitionSHA256: imgs[0].Digest,
			release.TagECSAgentVersion:  "newest",
			// What the gate tags: the newest release, at the build.
			release.TagECSAgentInstalled: awssim.DefaultECSAgentRelease,
		}})
		if _, err := ssmc.PutParameter(t.Context(), &ssm.PutParameterInput{
			Name: aws.String("/cisecs-cmd-test/" + param + "-alpha"), Value: aws.String("ami-0c000000000000001"),
			Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image"), Overwrite: aws.Bool(true),
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("one image", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "source-alpha.json")
		r := runSourceEmulated(t, awssim.Options{Images: catalogue}, releaseAlpha, "-o", out, alpha)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		// The workflow reads it with jq -r '.due': a JSON object whose
		// pipeline.SourceDueField is a boolean.
		var m map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("stdout is not a JSON object: %v\n%s", err, r.stdout)
		}
		if due, ok := m[pipeline.SourceDueField].(bool); !ok || due {
			t.Errorf("%s = %v, want false:\n%s", pipeline.SourceDueField, m[pipeline.SourceDueField], r.stdout)
		}
		var d due.Decision
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatal(err)
		}
		if d.Image != "alpha" || d.Base.ID != "ami-0b000000000000002" || len(d.Reasons) != 0 || d.Released.AMI != "ami-0c000000000000001" {
			t.Errorf("decision %+v", d)
		}
		if want := "alpha: up to date: base ami-0b000000000000002 (CIS Test Linux x86_64 v2)\n"; r.stderr != want {
			t.Errorf("stderr %q, want %q", r.stderr, want)
		}
		if b, err := os.ReadFile(out); err != nil || string(b) != r.stdout {
			t.Errorf("-o %s holds %q (%v), want stdout's JSON", out, b, err)
		}
		if !slices.Equal(r.regions, []string{"eu-west-1"}) {
			t.Errorf("looked in %q, want the definition's region eu-west-1", r.regions)
		}
	})

	t.Run("several images", func(t *testing.T) {
		r := runSourceEmulated(t, awssim.Options{Images: catalogue}, releaseAlpha, "--region", "eu-central-1", beta, alpha)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		var ds []due.Decision
		if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil {
			t.Fatalf("stdout is not a JSON array: %v\n%s", err, r.stdout)
		}
		var got []string
		for _, d := range ds {
			got = append(got, fmt.Sprintf("%s due=%t %s %s", d.Image, d.Due, d.Base.ID, d.Region))
		}
		want := []string{
			"alpha due=false ami-0b000000000000002 eu-central-1",
			"beta due=true ami-0b000000000000003 eu-central-1",
		}
		if !slices.Equal(got, want) {
			t.Errorf("decisions %q, want %q", got, want)
		}
		for _, line := range []string{"alpha: up to date", "beta: due: never-released", "  - never released: parameter /cisecs-cmd-test/"} {
			if !strings.Contains(r.stderr, line) {
				t.Errorf("stderr lacks %q:\n%s", line, r.stderr)
			}
		}
		if !slices.Equal(r.regions, []string{"eu-central-1"}) {
			t.Errorf("looked in %q, want eu-central-1 (--region) once", r.regions)
		}
	})

	for _, tc := range []struct {
		name  string
		o     awssim.Options
		args  []string
		wants []string
	}{
		{
			name:  "no base AMI",
			o:     awssim.Options{Images: catalogue[2:]},
			args:  []string{beta, alpha},
			wants: []string{`cisecs source: image "alpha": no base AMI matches in region "eu-west-1": owners ["aws-marketplace"], name "CIS Test Linux x86_64 *"`, "1 of 2 image(s) could not be checked; nothing printed"},
		},
		{
			name: "AWS error",
			o: awssim.Options{Images: catalogue, Fault: func(op string, _ int) *awssim.APIError {
				if op == "GetParameter" {
					return &awssim.APIError{Code: "AccessDeniedException", Message: "not authorized to perform: ssm:GetParameter"}
				}
				return nil
			}},
			args:  []string{alpha},
			wants: []string{`cisecs source: image "alpha": released AMI: read parameter "/cisecs-cmd-test/`, "AccessDeniedException"},
		},
		{
			name:  "bad definition",
			args:  []string{filepath.Join(dir, "images/gamma.hcl")},
			wants: []string{`gamma.hcl:5:`, `problem(s) in the image definitions`},
		},
		{
			name:  "no such file",
			args:  []string{filepath.Join(dir, "images/delta.hcl")},
			wants: []string{"delta.hcl"},
		},
		{
			name:  "bad flag",
			args:  []string{"--since", "yesterday", alpha},
			wants: []string{"flag provided but not defined: -since"},
		},
		{
			name:  "bad timeout",
			args:  []string{"--timeout", "-1s", alpha},
			wants: []string{"--timeout -1s is not positive"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "source.json")
			r := runSourceEmulated(t, tc.o, nil, append([]string{"-o", out}, tc.args...)...)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			for _, w := range tc.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("-o %s written although the command failed", out)
			}
		})
	}
}
