package pipeline_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/pipeline"
)

// envBlock returns the value of the block scalar env var key in the step
// named step of wf.
func envBlock(t *testing.T, wf, step, key string) string {
	t.Helper()
	i := strings.Index(wf, "- name: "+step+"\n")
	if i < 0 {
		t.Fatalf("no step %q", step)
	}
	head := "          " + key + ": |\n"
	j := strings.Index(wf[i:], head)
	if j < 0 {
		t.Fatalf("step %q has no %s block", step, key)
	}
	var lines []string
	for _, l := range strings.Split(wf[i+j+len(head):], "\n") {
		if !strings.HasPrefix(l, "            ") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "            "))
	}
	return strings.Join(lines, "\n")
}

// runStep runs a step's script as the runner's bash does, in dir, with env.
func runStep(t *testing.T, script, dir string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestNightWithAFailedSource runs one night's source and plan steps, as
// the runner would, over the shipped images: one image is due, one is up
// to date, the source of one fails as cisecs source does when no base AMI
// matches (exit 2), and one's source job never finished. The failed image
// fails its own job and is named in the summary; the due image is still
// built.
func TestNightWithAFailedSource(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed")
	}
	wf := string(render(t, pipeline.GitHub, load(t, pinned...)))
	source := stepScript(t, wf, "cisecs source")
	failed := stepScript(t, wf, "verdict if the source failed")
	plan := stepScript(t, wf, "due images and the night's summary")
	imagesJSON := envBlock(t, wf, "due images and the night's summary", "IMAGES")
	var imgs []map[string]any
	if err := json.Unmarshal([]byte(imagesJSON), &imgs); err != nil || len(imgs) < 4 {
		t.Fatalf("IMAGES of the plan step: %v (%d images); want the shipped images", err, len(imgs))
	}
	due, upToDate, broken, unfinished := imgs[0], imgs[1], imgs[2], imgs[3]

	work := t.TempDir()
	bin := filepath.Join(work, "_bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// cisecs source, as far as the workflow sees it: JSON with "due" on
	// stdout, or exit 2 with the reason on stderr.
	fake := `#!/bin/sh
case $2 in
` + due["definition"].(string) + `) echo '{"due":true,"reasons":["new-base-ami"]}' ;;
` + upToDate["definition"].(string) + `) echo '{"due":false}' ;;
*) echo "cisecs source: $2: no CIS AMI matches the base" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "cisecs"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, img := range []map[string]any{due, upToDate, broken} {
		b, _ := json.Marshal(img)
		env := []string{"IMAGE=" + string(b), "NAME=" + img["name"].(string), "DEFINITION=" + img["definition"].(string), "FORCE=false"}
		out, err := runStep(t, source, work, env...)
		if img["name"] == broken["name"] {
			if err == nil {
				t.Fatalf("the source step of %s passed though cisecs source failed:\n%s", img["name"], out)
			}
			if out, err := runStep(t, failed, work, env...); err != nil {
				t.Fatalf("failed-verdict step: %v\n%s", err, out)
			}
			continue
		}
		if err != nil {
			t.Fatalf("source step of %s: %v\n%s", img["name"], err, out)
		}
	}

	output := filepath.Join(work, "output")
	summary := filepath.Join(work, "summary")
	out, err := runStep(t, plan, work, "IMAGES="+imagesJSON, "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+summary)
	if err != nil {
		t.Fatalf("plan step: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(output)
	var planned []map[string]any
	for _, line := range strings.Split(string(got), "\n") {
		if v, ok := strings.CutPrefix(line, "images="); ok {
			if err := json.Unmarshal([]byte(v), &planned); err != nil {
				t.Fatalf("images output %q: %v", v, err)
			}
		}
	}
	if len(planned) != 1 || planned[0]["name"] != due["name"] || planned[0]["verdict"] != nil {
		t.Errorf("planned images %v, want only %s, as the matrix takes it", planned, due["name"])
	}
	if !strings.Contains(string(got), "any=true\n") {
		t.Errorf("outputs %q lack any=true", got)
	}
	if want := "::error title=" + broken["name"].(string) + "::"; !strings.Contains(out, want) {
		t.Errorf("plan step output lacks %q:\n%s", want, out)
	}
	table, _ := os.ReadFile(summary)
	for _, want := range []string{
		"| " + due["name"].(string) + " | " + due["region"].(string) + " | due |",
		"| " + upToDate["name"].(string) + " | " + upToDate["region"].(string) + " | up-to-date |",
		"| " + broken["name"].(string) + " | " + broken["region"].(string) + " | **failed**: not rebuilt |",
		"| " + unfinished["name"].(string) + " | " + unfinished["region"].(string) + " | **no verdict (its source job did not finish)**: not rebuilt |",
	} {
		if !strings.Contains(string(table), want) {
			t.Errorf("summary lacks %q:\n%s", want, table)
		}
	}
}

// TestKeepsPins: a workflow in which Dependabot has moved one action on
// is rendered again with that pin and the shipped pins for the rest.
func TestKeepsPins(t *testing.T) {
	imgs := load(t, pinned...)
	shipped := string(render(t, pipeline.GitHub, imgs))
	const bumped = "actions/checkout@0123456789abcdef0123456789abcdef01234567 # v6.9.9"
	old := regexp.MustCompile(`actions/checkout@[0-9a-f]{40} # v[0-9.]+`).ReplaceAllString(shipped, bumped)
	old += "      - uses: actions/cache@v5\n" // not a pin: ignored
	keep := pipeline.PinsIn([]byte(old))
	if len(keep) != 6 {
		t.Errorf("pins found %v, want the 6 actions", keep)
	}
	got, err := pipeline.RenderKeeping(pipeline.GitHub, imgs, keep)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != old[:len(old)-len("      - uses: actions/cache@v5\n")] {
		t.Errorf("rendered again, the workflow is not the one with the bumped pin:\n%s", got)
	}
	if n := strings.Count(string(got), bumped); n != strings.Count(shipped, "actions/checkout@") {
		t.Errorf("%d uses of the bumped checkout, want every one", n)
	}
	if !strings.Contains(pipeline.DependabotConfig, "package-ecosystem: github-actions") {
		t.Errorf("the Dependabot configuration does not update GitHub actions:\n%s", pipeline.DependabotConfig)
	}
}

// TestCopiesPublished runs the validate job's steps on a manifest whose
// build copied the AMI to two other regions (the definition's
// copy_regions), as Packer writes it: the gate tests the AMI of the
// image's region and is given the copies to publish with it.
func TestCopiesPublished(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed")
	}
	wf := string(render(t, pipeline.GitHub, load(t, pinned...)))
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := `{"builds":[
	  {"name":"old","packer_run_uuid":"r0","artifact_id":"us-east-1:ami-0000000000000000a"},
	  {"name":"al2023","packer_run_uuid":"r1","artifact_id":"eu-west-1:ami-0bbbbbbbbbbbbbbb1,us-east-1:ami-0aaaaaaaaaaaaaaa1,ap-south-1:ami-0ccccccccccccccc1"}
	],"last_run_uuid":"r1"}`
	if err := os.WriteFile(filepath.Join(work, "build", "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	output := filepath.Join(work, "output")
	if out, err := runStep(t, stepScript(t, wf, "AMI id from the manifest"), work, "IMAGE=al2023", "REGION=us-east-1", "GITHUB_OUTPUT="+output); err != nil {
		t.Fatalf("AMI step: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(output)
	want := "id=ami-0aaaaaaaaaaaaaaa1\ncopies=eu-west-1=ami-0bbbbbbbbbbbbbbb1,ap-south-1=ami-0ccccccccccccccc1\n"
	if string(got) != want {
		t.Fatalf("AMI step outputs %q, want %q", got, want)
	}

	bin := filepath.Join(work, "_bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "cisecs"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ copies, want string }{
		{"eu-west-1=ami-0bbbbbbbbbbbbbbb1,ap-south-1=ami-0ccccccccccccccc1", "--publish-copies\neu-west-1=ami-0bbbbbbbbbbbbbbb1,ap-south-1=ami-0ccccccccccccccc1\n"},
		{"", ""},
	} {
		out, err := runStep(t, stepScript(t, wf, "cisecs validate"), work, "COPIES="+tc.copies)
		if err != nil {
			t.Fatalf("validate step: %v\n%s", err, out)
		}
		if has := strings.Contains(out, "--publish-copies\n"); has != (tc.want != "") || !strings.Contains(out, tc.want) {
			t.Errorf("COPIES=%q: the gate's arguments\n%s\nwant %q", tc.copies, out, tc.want)
		}
	}
}
