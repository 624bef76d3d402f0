package pipeline_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/golden"
	"github.com/cisecs/cisecs/pipeline"
)

// pinned are the images whose workflow the golden file pins: the images
// cisecs ships. An image a user adds to images/ changes no golden file;
// the other tests take it with every other definition there.
var pinned = []string{
	"al2-cis-level1",
	"al2023-cis-level1",
	"al2023-cis-level1-arm64",
	"rhel9-cis-level1",
	"ubuntu2204-cis-level1",
}

// load returns the images named, or every image in images/ when none is,
// loaded as the CLI loads them: from the repository root, so that their
// files are images/NAME.hcl. The test runs from the repository root from
// then on.
func load(t *testing.T, names ...string) []images.Image {
	t.Helper()
	t.Chdir("..")
	var paths []string
	for _, name := range names {
		paths = append(paths, filepath.Join("images", name+".hcl"))
	}
	if len(names) == 0 {
		var err error
		if paths, err = images.Files("images"); err != nil {
			t.Fatal(err)
		}
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatalf("definitions:\n%v", err)
	}
	if len(imgs) == 0 {
		t.Fatal("no definitions in images/")
	}
	return imgs
}

// render renders the workflow for imgs on ci, failing the test on error.
func render(t *testing.T, ci pipeline.CI, imgs []images.Image) []byte {
	t.Helper()
	b, err := pipeline.Render(ci, imgs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden renders the workflow of the pinned images for every CI and
// compares it with testdata/workflow-CI.yml.golden. A second render, and a
// render of the images in another order, give the same bytes.
func TestGolden(t *testing.T) {
	imgs := load(t, pinned...)
	for _, ci := range pipeline.CIs() {
		t.Run(string(ci), func(t *testing.T) {
			got := golden.Check(t, filepath.Join("pipeline", "testdata", "workflow-"+string(ci)+".yml.golden"), func() ([]byte, error) { return pipeline.Render(ci, imgs) })
			reversed := make([]images.Image, len(imgs))
			for i, img := range imgs {
				reversed[len(imgs)-1-i] = img
			}
			if other := render(t, ci, reversed); !bytes.Equal(got, other) {
				t.Fatal("the images' order changed the output")
			}
		})
	}
}

// TestGitHubWorkflow checks what the GitHub workflow of every image in
// images/ promises, beyond what actionlint can know: every image is in it
// with its parameter, the jobs are bounded, and nothing gets more than it
// needs.
func TestGitHubWorkflow(t *testing.T) {
	imgs := load(t)
	wf := string(render(t, pipeline.GitHub, imgs))
	jobs := len(regexp.MustCompile(`(?m)^  [a-z]+:\n    name: `).FindAllString(wf, -1))
	if jobs != 5 {
		t.Errorf("%d jobs, want 5: source, plan, build, validate, cleanup", jobs)
	}
	for _, img := range imgs {
		param := img.SSMParameter
		if param == "" {
			param = images.DefaultSSMParameter(img.Name)
		}
		want := `{"name":"` + img.Name + `","region":"` + img.Region + `","ssm_parameter":"` + param + `","definition":"images/` + img.Name + `.hcl",`
		if !strings.Contains(wf, want) {
			t.Errorf("image %q: no %s in the workflow", img.Name, want)
		}
	}
	for _, tc := range []struct {
		name string
		re   string
		n    int
	}{
		{"nightly", `(?m)^  schedule:\n    - cron: "17 3 \* \* \*"$`, 1},
		{"on demand with a force input", `(?m)^  workflow_dispatch:\n    inputs:\n      force:\n`, 1},
		{"one run at a time", `(?m)^concurrency:\n  group: cisecs-nightly-rebuild\n  cancel-in-progress: false$`, 1},
		{"read-only by default", `(?m)^permissions:\n  contents: read\n\n`, 1},
		{"every job bounded", `(?m)^    timeout-minutes: \d+$`, jobs},
		{"jobs with AWS roles least privilege", `(?m)^    permissions:\n      contents: read\n      id-token: write\n`, 4},
		{"one source job per image, none stopping the others", `(?m)^  source:\n(?:    .*\n|\n|      .*\n)*?    strategy:\n      fail-fast: false\n      matrix:\n        image: \[\n`, 1},
		{"every matrix goes on past a failed leg", `(?m)^    strategy:\n      fail-fast: false\n`, 4},
		{"build and validate bounded", `(?m)^      max-parallel: 2$`, 2},
		{"plan runs past failed sources", `(?m)^  plan:\n    name: .*\n    needs: source\n(?:    #.*\n)*    if: \$\{\{ !cancelled\(\) \}\}\n`, 1},
		{"cleanup always, even cancelled", `(?m)^  cleanup:\n    name: .*\n    needs: \[plan, validate\]\n    if: \$\{\{ always\(\) && needs\.plan\.outputs\.any == 'true' \}\}\n`, 1},
		{"cleanup sweeps this run's gates", `(?m)^          PREFIX: gh-\$\{\{ github\.run_id \}\}-\n        run: \./_bin/cisecs janitor --run-id-prefix "\$PREFIX"$`, 1},
		{"gate run ids under the cleanup's prefix", `(?m)^          RUN_ID: gh-\$\{\{ github\.run_id \}\}-`, 1},
		{"packer with the subnet", `packer build -color=false -timestamp-ui -var "subnet_id=\$SUBNET_ID" \.`, 1},
		{"make plugins", `(?m)^          make plugins$`, 1},
		{"gate publishes", `--publish-parameter "\$SSM_PARAMETER"`, 1},
		{"gate reports", `--report gate\.json \\\n +--junit gate\.xml`, 1},
		{"source due field", `jq -r '\.` + pipeline.SourceDueField + `'`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := len(regexp.MustCompile(tc.re).FindAllString(wf, -1)); n != tc.n {
				t.Errorf("%d matches of %s, want %d", n, tc.re, tc.n)
			}
		})
	}
	t.Run("actions pinned", func(t *testing.T) {
		uses := regexp.MustCompile(`(?m)^ +(?:- )?uses: (.+)$`).FindAllStringSubmatch(wf, -1)
		if len(uses) == 0 {
			t.Fatal("no uses: lines")
		}
		// A full commit, with the release it is in a comment.
		pinned := regexp.MustCompile(`^[a-z0-9-]+/[a-z0-9-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)
		for _, u := range uses {
			if !pinned.MatchString(u[1]) {
				t.Errorf("uses: %s is not pinned to a commit with its tag", u[1])
			}
		}
	})
	t.Run("no expressions in scripts", func(t *testing.T) {
		// Values reach scripts through env; ${{ }} inside run: would be
		// spliced into the shell.
		all := scripts(wf)
		if !slices.ContainsFunc(all, func(s string) bool { return strings.Contains(s, "packer build") }) {
			t.Fatalf("found no packer build among the scripts %q", all)
		}
		for i, script := range all {
			if strings.Contains(script, "${{") {
				t.Errorf("script %d holds an expression:\n%s", i, script)
			}
		}
	})
}

// TestBuildArtifacts checks that the workflow keeps what a build writes
// beside its template (builder.ManifestFile, builder.ReportFile): packer
// builds in the directory cisecs generate wrote the template to, the build
// job uploads both files from there, and the validate job reads them, under
// the same names, where it downloads them.
func TestBuildArtifacts(t *testing.T) {
	wf := string(render(t, pipeline.GitHub, load(t, pinned...)))
	const name = "${{ matrix.image.name }}"
	find := func(what, re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(wf)
		if m == nil {
			t.Fatalf("no %s: no match of %s", what, re)
		}
		return m[1]
	}
	out := find("cisecs generate", `(?m)^        run: \./_bin/cisecs generate -o (\S+) "\$DEFINITION"$`)
	dir := find("packer build directory", `(?m)^      - name: packer build\n        working-directory: (.+)\n`)
	if want := out + "/" + name; dir != want {
		t.Errorf("packer builds in %s, not in %s where cisecs generate writes the template", dir, want)
	}
	upload := find("upload", `(?m)^      - name: upload manifest and provision report\n(?:        .*\n)*?          path: \|\n((?:            .+\n)+)`)
	var uploaded []string
	for _, line := range strings.Split(strings.TrimSpace(upload), "\n") {
		uploaded = append(uploaded, strings.TrimSpace(line))
	}
	for _, f := range []string{builder.ManifestFile, builder.ReportFile(name)} {
		if !slices.Contains(uploaded, dir+"/"+f) {
			t.Errorf("the build job does not upload %s/%s; it uploads %q", dir, f, uploaded)
		}
	}
	got := find("download", `(?m)^      - name: download manifest and provision report\n(?:        .*\n)*?          path: (\S+)$`)
	for _, want := range []string{
		"manifest=" + got + "/" + builder.ManifestFile + "\n",
		`--provision-report "` + got + "/" + builder.ReportFile("$IMAGE") + `"`,
	} {
		if !strings.Contains(wf, want) {
			t.Errorf("the validate job does not read %s", want)
		}
	}
}

// TestGateInstanceType: the gate of every image runs on the definition's
// gate instance type (EC2 refuses to launch an AMI on a type of another
// architecture: the gate's old default, t3.small, failed every arm64
// image).
func TestGateInstanceType(t *testing.T) {
	imgs := load(t)
	wf := string(render(t, pipeline.GitHub, imgs))
	for _, img := range imgs {
		entry := `{"name":"` + img.Name + `",`
		i := strings.Index(wf, entry)
		if i < 0 {
			t.Fatalf("no matrix entry for %s", img.Name)
		}
		line, _, _ := strings.Cut(wf[i:], "\n")
		if want := `"gate_instance_type":"` + img.GateInstanceType + `"`; !strings.Contains(line, want) {
			t.Errorf("matrix entry %s: want %s", line, want)
		}
	}
	for _, want := range []string{
		"          INSTANCE_TYPE: ${{ matrix.image.gate_instance_type }}\n",
		"./_bin/cisecs validate --backend aws \\\n",
		`            --instance-type "$INSTANCE_TYPE" \` + "\n",
	} {
		if !strings.Contains(wf, want) {
			t.Errorf("the validate job lacks %q", want)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	imgs := load(t, pinned...)
	good := imgs[0]
	with := func(f func(*images.Image)) []images.Image {
		img := good
		img.ECS.NetworkModes = append([]string(nil), good.ECS.NetworkModes...)
		f(&img)
		return []images.Image{img}
	}
	for _, tc := range []struct {
		name string
		ci   pipeline.CI
		imgs []images.Image
		want string
	}{
		{"unknown ci", "gitlab", imgs, `ci "gitlab": want one of github`},
		{"no images", pipeline.GitHub, nil, "no images"},
		{"absolute definition", pipeline.GitHub, with(func(i *images.Image) { i.File = "/repo/images/x.hcl" }), `definition "/repo/images/x.hcl": give its path from the repository root`},
		{"definition outside", pipeline.GitHub, with(func(i *images.Image) { i.File = "../images/x.hcl" }), `definition "../images/x.hcl"`},
		{"bad name", pipeline.GitHub, with(func(i *images.Image) { i.Name = "Bad Name" }), `image "Bad Name": not an image name`},
		{"expression", pipeline.GitHub, with(func(i *images.Image) { i.SSMParameter = "/x/${{ secrets.A }}" }), `cannot go into a workflow`},
		{"duplicate", pipeline.GitHub, []images.Image{good, good}, "defined twice"},
		{"no modes", pipeline.GitHub, with(func(i *images.Image) { i.ECS.NetworkModes = nil }), "no ECS network modes"},
		{"no gate instance type", pipeline.GitHub, with(func(i *images.Image) { i.GateInstanceType = "" }), "no gate instance type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := pipeline.Render(tc.ci, tc.imgs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if b != nil {
				t.Errorf("rendered %d bytes despite the error", len(b))
			}
		})
	}
}

func TestParseCI(t *testing.T) {
	for _, ci := range pipeline.CIs() {
		if got, err := pipeline.ParseCI(string(ci)); err != nil || got != ci {
			t.Errorf("ParseCI(%q) = %q, %v", ci, got, err)
		}
	}
	if _, err := pipeline.ParseCI("GitHub"); err == nil {
		t.Error(`ParseCI("GitHub") accepted a name in the wrong case`)
	}
}

// scripts returns the run: scripts of the workflow wf: the value of every
// run: key, with a block scalar's lines.
func scripts(wf string) []string {
	var (
		out    []string
		cur    []string
		indent = -1 // of the run: key whose block is being read
	)
	flush := func() {
		if cur != nil {
			out = append(out, strings.Join(cur, "\n"))
		}
		cur, indent = nil, -1
	}
	for _, line := range strings.Split(wf, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		depth := len(line) - len(trimmed)
		if indent >= 0 {
			if trimmed == "" || depth > indent {
				cur = append(cur, line)
				continue
			}
			flush()
		}
		key := strings.TrimPrefix(trimmed, "- ")
		if v, ok := strings.CutPrefix(key, "run:"); ok {
			if strings.TrimSpace(v) == "|" {
				indent, cur = depth, []string{}
				continue
			}
			out = append(out, strings.TrimSpace(v))
		}
	}
	flush()
	return out
}

// stepScript returns the run: script of the workflow step named name.
func stepScript(t *testing.T, wf, name string) string {
	t.Helper()
	i := strings.Index(wf, "- name: "+name+"\n")
	if i < 0 {
		t.Fatalf("no step %q", name)
	}
	rest := wf[i:]
	j := strings.Index(rest, "        run: |\n")
	if j < 0 {
		t.Fatalf("step %q has no run: block", name)
	}
	var lines []string
	for _, l := range strings.Split(rest[j+len("        run: |\n"):], "\n") {
		if !strings.HasPrefix(l, "          ") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "          "))
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestGateProbeImage runs the validate step's script, as the runner's bash
// does (-eo pipefail), with a cisecs that prints its arguments: the
// repository variable CISECS_GATE_PROBE_IMAGE becomes --probe-image when
// set, and the gate's default applies when it is not.
func TestGateProbeImage(t *testing.T) {
	wf := string(render(t, pipeline.GitHub, load(t, pinned...)))
	if !strings.Contains(wf, "PROBE_IMAGE: ${{ vars.CISECS_GATE_PROBE_IMAGE }}\n") {
		t.Fatal("the validate step does not read vars.CISECS_GATE_PROBE_IMAGE")
	}
	script := stepScript(t, wf, "cisecs validate")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "_bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_bin", "cisecs"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, value string
		want        []string
	}{
		{"set", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/probe:1", []string{"--probe-image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/probe:1"}},
		{"unset", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PROBE_IMAGE="+tt.value)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("step script: %v\n%s", err, out)
			}
			args := strings.Split(strings.TrimSpace(string(out)), "\n")
			i := slices.Index(args, "--probe-image")
			switch {
			case tt.want == nil && i >= 0:
				t.Errorf("--probe-image passed with the variable unset: %q", args)
			case tt.want != nil && (i < 0 || i+1 >= len(args) || args[i+1] != tt.want[1]):
				t.Errorf("args %q: want %q", args, tt.want)
			}
		})
	}
}
