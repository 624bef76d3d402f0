// Package pipeline renders the CI workflow that rebuilds the images
// nightly: a source job asks "cisecs source" which images are due (or
// takes them all when a rebuild is forced), a build job runs Packer on
// each due image, and a validate job puts each new AMI through the release
// gate ("cisecs validate --backend aws"), which publishes its id to the
// image's SSM parameter when every check passes, and then sweeps what
// killed runs left behind ("cisecs janitor").
//
// The workflow is one template per CI system, templates/workflow-CI.yml.tmpl,
// filled with the same CI-neutral vars: the images (name, region, SSM
// parameter, definition path, ECS network modes) and the schedule, limits
// and timeouts. Supporting another CI is one more template and one more
// CI value.
package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/templates"
)

// CI names a CI system the workflow can be rendered for.
type CI string

// The CI systems there is a template for.
const (
	// GitHub is GitHub Actions: templates/workflow-github.yml.tmpl.
	GitHub CI = "github"
)

// CIs returns the CI systems there is a template for, in name order.
func CIs() []CI { return []CI{GitHub} }

// ParseCI returns the CI named s.
func ParseCI(s string) (CI, error) {
	for _, ci := range CIs() {
		if string(ci) == s {
			return ci, nil
		}
	}
	var names []string
	for _, ci := range CIs() {
		names = append(names, string(ci))
	}
	return "", fmt.Errorf("ci %q: want one of %s", s, strings.Join(names, ", "))
}

// template returns the name of ci's template in templates.FS.
func (ci CI) template() string { return "workflow-" + string(ci) + ".yml.tmpl" }

// SourceDueField is the field of the JSON that "cisecs source
// images/NAME.hcl" prints on stdout which says whether the image is due
// for a rebuild (true when its base AMI, its definition or the cisecs
// version differ from what built the released AMI). The workflow reads it
// with jq; it is the contract the source command must keep.
const SourceDueField = "due"

// Defaults of the workflow's schedule, limits and timeouts.
const (
	// DefaultSchedule is when the nightly run starts, in cron syntax (UTC):
	// 03:17, off the hour that every other scheduled workflow picks.
	DefaultSchedule = "17 3 * * *"
	// DefaultMaxParallel bounds the images built, and validated, at once:
	// each holds one EC2 instance while it runs.
	DefaultMaxParallel = 2
	// DefaultSourceTimeout bounds the source job, in minutes.
	DefaultSourceTimeout = 15
	// DefaultBuildTimeout bounds one image's build, in minutes: building
	// the pinned Packer on a cold cache, then the Packer build itself.
	DefaultBuildTimeout = 120
	// DefaultValidateTimeout bounds one image's gate, in minutes: the
	// gate's own bound (45 minutes) and its cleanup (15) and diagnostics
	// (3) fit in it, so the job is not killed mid-cleanup.
	DefaultValidateTimeout = 90
)

// Image is what the workflow needs of one image definition.
type Image struct {
	// Name is the image's name.
	Name string `json:"name"`
	// Region is where the image is built and validated.
	Region string `json:"region"`
	// SSMParameter is the parameter the gate publishes the AMI id to.
	SSMParameter string `json:"ssm_parameter"`
	// Definition is the definition's path from the repository root, with
	// forward slashes: the workflow runs there.
	Definition string `json:"definition"`
	// NetworkModes are the ECS network modes the image enables; the gate
	// probes each.
	NetworkModes []string `json:"network_modes"`
	// IMDSBlocked says the image sets ECS_AWSVPC_BLOCK_IMDS: the gate
	// checks awsvpc tasks cannot reach IMDS.
	IMDSBlocked bool `json:"imds_blocked"`
	// GateInstanceType is the type the gate launches the AMI on: one of
	// the AMI's architecture, which EC2 requires.
	GateInstanceType string `json:"gate_instance_type"`
}

// vars is what every workflow template is filled with. It names no CI
// system's features: those belong in the templates.
type vars struct {
	// Images are the images, in name order.
	Images []Image
	// Schedule is the nightly start, in cron syntax (UTC).
	Schedule string
	// MaxParallel bounds the builds, and the gates, that run at once.
	MaxParallel int
	// SourceTimeout, BuildTimeout and ValidateTimeout bound the jobs, in
	// minutes.
	SourceTimeout, BuildTimeout, ValidateTimeout int
	// SourceDueField is the field of cisecs source's JSON that says an
	// image is due.
	SourceDueField string
}

// workflowTemplates are the workflow templates, one per CI. Their
// delimiters are {% %}, since CI systems use {{ }} and ${{ }} for their own
// expressions.
var workflowTemplates = template.Must(template.New("workflow").
	Delims("{%", "%}").
	Option("missingkey=error").
	Funcs(template.FuncMap{"jsonLines": jsonLines, "indent": indent, "uses": usesFunc(nil), "regions": regions}).
	ParseFS(templates.FS, "workflow-*.yml.tmpl"))

// Render returns the CI workflow for imgs on ci. It is pure: the same
// images give the same bytes. Every image's File must be its definition's
// path from the repository root, which is where the workflow runs.
func Render(ci CI, imgs []images.Image) ([]byte, error) {
	return RenderKeeping(ci, imgs, nil)
}

// RenderKeeping is Render with the actions pinned as keep says (PinsIn of
// the workflow it replaces), where keep names them.
func RenderKeeping(ci CI, imgs []images.Image, keep map[string]string) ([]byte, error) {
	if _, err := ParseCI(string(ci)); err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, errors.New("no images")
	}
	v := vars{
		Schedule:        DefaultSchedule,
		MaxParallel:     DefaultMaxParallel,
		SourceTimeout:   DefaultSourceTimeout,
		BuildTimeout:    DefaultBuildTimeout,
		ValidateTimeout: DefaultValidateTimeout,
		SourceDueField:  SourceDueField,
	}
	var errs []error
	seen := map[string]bool{}
	for _, img := range imgs {
		pi, err := image(img)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[pi.Name] {
			errs = append(errs, fmt.Errorf("image %q: defined twice", pi.Name))
			continue
		}
		seen[pi.Name] = true
		v.Images = append(v.Images, pi)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(v.Images, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })
	tmpl, err := workflowTemplates.Clone()
	if err != nil {
		return nil, err
	}
	tmpl.Funcs(template.FuncMap{"uses": usesFunc(keep)})
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, ci.template(), v); err != nil {
		return nil, fmt.Errorf("render %s workflow: %w", ci, err)
	}
	return b.Bytes(), nil
}

// image returns what the workflow needs of img, or why img cannot be in
// it.
func image(img images.Image) (Image, error) {
	if !images.ValidName(img.Name) {
		return Image{}, fmt.Errorf("image %q: not an image name", img.Name)
	}
	if !filepath.IsLocal(img.File) {
		return Image{}, fmt.Errorf("image %q: definition %q: give its path from the repository root, where the workflow runs", img.Name, img.File)
	}
	def := path.Clean(filepath.ToSlash(img.File))
	param := img.SSMParameter
	if param == "" {
		param = images.DefaultSSMParameter(img.Name)
	}
	modes := img.ECS.NetworkModes
	if len(modes) == 0 {
		return Image{}, fmt.Errorf("image %q: no ECS network modes", img.Name)
	}
	pi := Image{
		Name:             img.Name,
		Region:           img.Region,
		SSMParameter:     param,
		Definition:       def,
		NetworkModes:     slices.Clone(modes),
		IMDSBlocked:      img.ECS.AWSVPCBlockIMDS,
		GateInstanceType: img.GateInstanceType,
	}
	if pi.Region == "" {
		return Image{}, fmt.Errorf("image %q: no region", img.Name)
	}
	if pi.GateInstanceType == "" {
		return Image{}, fmt.Errorf("image %q: no gate instance type", img.Name)
	}
	// Every value lands in YAML and in shell variables; none may hold what
	// a CI would read as an expression or a line break.
	for _, s := range append([]string{pi.Region, pi.SSMParameter, pi.Definition, pi.GateInstanceType}, pi.NetworkModes...) {
		if strings.Contains(s, "${{") || strings.ContainsAny(s, "\n\r\"'`$\\") {
			return Image{}, fmt.Errorf("image %q: %q: quotes, $, backslashes and line breaks cannot go into a workflow", img.Name, s)
		}
	}
	return pi, nil
}

// regions returns the regions of imgs, each once, in name order, as a
// JSON array.
func regions(imgs []Image) (string, error) {
	var rs []string
	for _, img := range imgs {
		rs = append(rs, img.Region)
	}
	slices.Sort(rs)
	b, err := json.Marshal(slices.Compact(rs))
	return string(b), err
}

// jsonLines returns imgs as a JSON array with one image per line.
func jsonLines(imgs []Image) (string, error) {
	var b strings.Builder
	b.WriteString("[")
	for i, img := range imgs {
		j, err := json.Marshal(img)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
		b.Write(j)
	}
	b.WriteString("\n]")
	return b.String(), nil
}

// indent puts n spaces before every line of s but the first.
func indent(n int, s string) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}
