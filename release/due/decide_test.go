package due_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/pipeline"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/due"
)

// definition returns the source of a definition of the image name whose
// base is CIS Amazon Linux 2023 Level 1 on x86_64 from AWS Marketplace;
// the parameter is /cisecs-test/PARAM/ami-id, and body adds to the image
// block.
func definition(name, param, body string) string {
	return fmt.Sprintf(`image %q {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Amazon Linux 2023 Benchmark - Level 1*"
    architecture = "x86_64"
    os           = "al2023"
  }
  region        = "us-east-1"
  ssm_parameter = "/cisecs-test/%s/ami-id"
%s}
`, name, param, body)
}

// pinned is an ecs block that pins the agent.
func pinned(version string) string {
	return fmt.Sprintf("  ecs {\n    agent_version = %q\n  }\n", version)
}

// parse parses src as images/NAME.hcl.
func parse(t *testing.T, name, src string) images.Image {
	t.Helper()
	img, err := images.Parse("images/"+name+".hcl", []byte(src))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return img
}

func codes(d due.Decision) []due.Code {
	var out []due.Code
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// TestDecide is the decision alone, for each reason and their mixes.
func TestDecide(t *testing.T) {
	img := parse(t, "al2023", definition("al2023", "decide", pinned("1.86.3")))
	unpinned := parse(t, "al2023", definition("al2023", "decide", ""))
	base := due.AMI{ID: "ami-0b000000000000002", Name: "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.1.0", Created: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)}
	// current is a release of img from base: up to date.
	current := due.Released{
		Parameter:        "/cisecs-test/decide/ami-id",
		AMI:              "ami-0c000000000000001",
		Exists:           true,
		Name:             "cisecs-al2023-20251202031700",
		SourceAMI:        base.ID,
		SourceAMIName:    base.Name,
		DefinitionSHA256: img.Digest,
		ECSAgentVersion:  "1.86.3",
	}
	with := func(f func(*due.Released)) due.Released {
		r := current
		f(&r)
		return r
	}
	tests := []struct {
		name        string
		img         images.Image
		rel         due.Released
		want        []due.Code
		wantOld     []string
		wantNew     []string
		wantMessage string // the start of it
		wantReason  string // in the first reason's message
	}{
		{
			name: "up to date", img: img, rel: current,
			wantMessage: "up to date: base ami-0b000000000000002 (CIS Amazon Linux 2023 Benchmark - Level 1 - v1.1.0)",
		},
		{
			name: "never released", img: img, rel: due.Released{Parameter: "/cisecs-test/decide/ami-id"},
			want: []due.Code{due.NeverReleased}, wantOld: []string{""}, wantNew: []string{""},
			wantMessage: "due: never-released", wantReason: "parameter /cisecs-test/decide/ami-id does not exist",
		},
		{
			name: "released AMI missing", img: img, rel: due.Released{Parameter: "/cisecs-test/decide/ami-id", AMI: "ami-0dead000000000000"},
			want: []due.Code{due.ReleasedAMIMissing}, wantOld: []string{"ami-0dead000000000000"}, wantNew: []string{""},
			wantMessage: "due: released-ami-missing", wantReason: "holds ami-0dead000000000000, which no longer exists",
		},
		{
			name: "new base AMI", img: img,
			rel: with(func(r *due.Released) {
				r.SourceAMI, r.SourceAMIName = "ami-0b000000000000001", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.0.0"
			}),
			want: []due.Code{due.NewBaseAMI}, wantOld: []string{"ami-0b000000000000001"}, wantNew: []string{base.ID},
			wantMessage: "due: new-base-ami",
			wantReason:  "new base AMI: ami-0b000000000000001 (CIS Amazon Linux 2023 Benchmark - Level 1 - v1.0.0) -> ami-0b000000000000002 (CIS Amazon Linux 2023 Benchmark - Level 1 - v1.1.0)",
		},
		{
			name: "agent version changed", img: img,
			rel:  with(func(r *due.Released) { r.ECSAgentVersion = "1.85.0" }),
			want: []due.Code{due.AgentVersionChanged}, wantOld: []string{"1.85.0"}, wantNew: []string{"1.86.3"},
			wantMessage: "due: agent-version-changed", wantReason: "released AMI ami-0c000000000000001 has 1.85.0, the definition pins 1.86.3",
		},
		{
			name: "agent unpinned since the release", img: unpinned,
			rel:  with(func(r *due.Released) { r.DefinitionSHA256 = unpinned.Digest }),
			want: []due.Code{due.AgentVersionChanged}, wantOld: []string{"1.86.3"}, wantNew: []string{release.NewestAgent},
			wantMessage: "due: agent-version-changed", wantReason: "the definition takes the newest",
		},
		{
			name: "unpinned and released with the newest", img: unpinned,
			rel:         with(func(r *due.Released) { r.DefinitionSHA256, r.ECSAgentVersion = unpinned.Digest, release.NewestAgent }),
			wantMessage: "up to date: base ami-0b000000000000002",
		},
		{
			name: "definition changed", img: img,
			rel:  with(func(r *due.Released) { r.DefinitionSHA256 = strings.Repeat("a", 64) }),
			want: []due.Code{due.DefinitionChanged}, wantOld: []string{strings.Repeat("a", 64)}, wantNew: []string{img.Digest},
			wantMessage: "due: definition-changed", wantReason: "definition images/al2023.hcl changed: sha256 aaaaaaaaaaaa (released AMI ami-0c000000000000001) -> " + img.Digest[:12],
		},
		{
			name: "everything changed, in a fixed order", img: img,
			rel: with(func(r *due.Released) {
				r.SourceAMI, r.ECSAgentVersion, r.DefinitionSHA256 = "ami-0b000000000000001", "1.85.0", strings.Repeat("a", 64)
			}),
			want:        []due.Code{due.NewBaseAMI, due.AgentVersionChanged, due.DefinitionChanged},
			wantOld:     []string{"ami-0b000000000000001", "1.85.0", strings.Repeat("a", 64)},
			wantNew:     []string{base.ID, "1.86.3", img.Digest},
			wantMessage: "due: new-base-ami, agent-version-changed, definition-changed",
		},
		{
			name: "released AMI without provenance tags", img: img,
			rel:         due.Released{Parameter: "/cisecs-test/decide/ami-id", AMI: "ami-0c000000000000001", Exists: true},
			want:        []due.Code{due.NewBaseAMI, due.AgentVersionChanged, due.DefinitionChanged},
			wantOld:     []string{"", "", ""},
			wantNew:     []string{base.ID, "1.86.3", img.Digest},
			wantMessage: "due: new-base-ami, agent-version-changed, definition-changed",
			wantReason:  "released AMI ami-0c000000000000001 has no SourceAMI tag; base is now ami-0b000000000000002",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := due.Decide(tc.img, base, tc.rel, "")
			if got := codes(d); !slices.Equal(got, tc.want) {
				t.Errorf("reasons %q, want %q", got, tc.want)
			}
			if d.Due != (len(tc.want) > 0) {
				t.Errorf("due %t with reasons %q", d.Due, codes(d))
			}
			if d.Reasons == nil {
				t.Error("reasons nil: the JSON would say null, not []")
			}
			for i, r := range d.Reasons {
				if i < len(tc.wantOld) && (r.Old != tc.wantOld[i] || r.New != tc.wantNew[i]) {
					t.Errorf("reason %s: old %q new %q, want %q %q", r.Code, r.Old, r.New, tc.wantOld[i], tc.wantNew[i])
				}
				if r.Message == "" {
					t.Errorf("reason %s: no message", r.Code)
				}
			}
			if !strings.HasPrefix(d.Message, tc.wantMessage) {
				t.Errorf("message %q, want it to start %q", d.Message, tc.wantMessage)
			}
			if tc.wantReason != "" && !strings.Contains(d.Reasons[0].Message, tc.wantReason) {
				t.Errorf("first reason %q lacks %q", d.Reasons[0].Message, tc.wantReason)
			}
			if d.Image != "al2023" || d.Definition != "images/al2023.hcl" || d.Region != "us-east-1" || !reflect.DeepEqual(d.Base, base) ||
				d.DefinitionSHA256 != tc.img.Digest || d.ECSAgentVersion != due.AgentVersion(tc.img) || d.Released != tc.rel {
				t.Errorf("decision %+v does not carry its inputs", d)
			}
		})
	}
}

// TestDecisionJSON pins the JSON the workflow reads: a boolean field named
// pipeline.SourceDueField at the top, and reasons as a list, empty when
// not due.
func TestDecisionJSON(t *testing.T) {
	img := parse(t, "al2023", definition("al2023", "json", ""))
	base := due.AMI{ID: "ami-0b000000000000002", Name: "base", Created: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		rel  due.Released
		due  bool
	}{
		{"due", due.Released{Parameter: "/p"}, true},
		{"not due", due.Released{Parameter: "/p", AMI: "ami-0c000000000000001", Exists: true, SourceAMI: base.ID,
			DefinitionSHA256: img.Digest, ECSAgentVersion: release.NewestAgent}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(due.Decide(img, base, tc.rel, ""))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if due, ok := m[pipeline.SourceDueField].(bool); !ok || due != tc.due {
				t.Errorf("%s = %v in %s, want the boolean %t", pipeline.SourceDueField, m[pipeline.SourceDueField], b, tc.due)
			}
			reasons, ok := m["reasons"].([]any)
			if !ok || (len(reasons) > 0) != tc.due {
				t.Errorf("reasons = %v in %s", m["reasons"], b)
			}
			for _, k := range []string{"image", "definition", "region", "message", "base", "definition_sha256", "ecs_agent_version", "released"} {
				if _, ok := m[k]; !ok {
					t.Errorf("no %q in %s", k, b)
				}
			}
		})
	}
}

// TestTagsAreTheBuilds checks that the tags Decide compares are those the
// build writes on the AMI, with the values it writes.
func TestTagsAreTheBuilds(t *testing.T) {
	for _, body := range []string{"", pinned("1.86.3")} {
		img := parse(t, "al2023", definition("al2023", "tags", body))
		b, err := builder.Render(img)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := string(b)
		for key, value := range map[string]string{
			release.TagSourceAMI:        `"{{ .SourceAMI }}"`,
			release.TagSourceAMIName:    `"{{ .SourceAMIName }}"`,
			release.TagDefinitionSHA256: fmt.Sprintf("%q", img.Digest),
			release.TagECSAgentVersion:  fmt.Sprintf("%q", due.AgentVersion(img)),
		} {
			k := key
			if strings.Contains(k, ":") {
				k = fmt.Sprintf("%q", k)
			}
			found := false
			for line := range strings.Lines(tmpl) {
				lhs, rhs, ok := strings.Cut(line, "=")
				if ok && strings.TrimSpace(lhs) == k && strings.TrimSpace(rhs) == value {
					found = true
				}
			}
			if !found {
				t.Errorf("the build's template does not set %s = %s:\n%s", k, value, tmpl)
			}
		}
		if !strings.Contains(tmpl, fmt.Sprintf(`"cisecs:ssm-parameter"     = %q`, due.Parameter(img))) {
			t.Errorf("the build's template does not name the parameter %s", due.Parameter(img))
		}
	}
}

// TestDecideAgentRelease: a definition that takes the newest agent is due
// when AWS has released a newer one than the released AMI carries, by
// version order (1.105.1 is newer than 1.99.0), or when the AMI does not
// say which it carries; a pinned one never for that.
func TestDecideAgentRelease(t *testing.T) {
	unpinned := parse(t, "al2023", definition("al2023", "decide", ""))
	pinnedImg := parse(t, "al2023", definition("al2023", "decide", pinned("1.86.3")))
	base := due.AMI{ID: "ami-0b000000000000002", Name: "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.1.0"}
	rel := func(img images.Image, installed string) due.Released {
		return due.Released{
			Parameter: "/cisecs-test/decide/ami-id", AMI: "ami-0c000000000000001", Exists: true,
			SourceAMI: base.ID, DefinitionSHA256: img.Digest, ECSAgentVersion: due.AgentVersion(img), ECSAgentInstalled: installed,
		}
	}
	for _, tc := range []struct {
		name              string
		img               images.Image
		installed, latest string
		wantDue           bool
		wantMsg           string
	}{
		{"same release", unpinned, "1.105.1", "1.105.1", false, ""},
		{"newer release", unpinned, "1.99.0", "1.105.1", true, "new ECS agent release: released AMI ami-0c000000000000001 has 1.99.0, the newest is 1.105.1"},
		{"released AMI newer than the parameter", unpinned, "1.106.0", "1.105.1", false, ""},
		{"no installed tag", unpinned, "", "1.105.1", true, "ECS agent: released AMI ami-0c000000000000001 has no cisecs:ecs-agent-installed tag; the newest release is 1.105.1"},
		{"release not looked up", unpinned, "1.99.0", "", false, ""},
		{"pinned", pinnedImg, "1.86.3", "1.105.1", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := due.Decide(tc.img, base, rel(tc.img, tc.installed), tc.latest)
			if d.Due != tc.wantDue {
				t.Fatalf("due %v (%q), want %v", d.Due, d.Message, tc.wantDue)
			}
			if tc.wantDue && (len(d.Reasons) != 1 || d.Reasons[0].Code != due.NewAgentRelease || d.Reasons[0].Message != tc.wantMsg) {
				t.Errorf("reasons %+v, want one %s: %q", d.Reasons, due.NewAgentRelease, tc.wantMsg)
			}
		})
	}
}
