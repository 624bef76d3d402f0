package builder_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/cisecs/cisecs/builder/leftovers"
	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/iampolicy/iameval"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/internal/packertest"
	"github.com/cisecs/cisecs/internal/testenv"
	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/due"
	"github.com/cisecs/cisecs/validate/twin"
)

// The rehearsal: the pinned Packer and Amazon plugin run `packer build` on
// each shipped image's generated template against awssim, whose
// RunInstances boots a host twin of the image's OS; Packer reaches the
// twin's sshd through SSM Session Manager (the stand-in
// session-manager-plugin, internal/awssim/sessionplugin), and the real
// provisioner "cisecs" runs the host script there. Every step runs but
// agent, which needs the OS's package repositories. The twin runs on this
// machine's architecture (x86_64): for the arm64 image only the API model
// (the instance type against the AMI) checks the architecture. After a
// build, a twin boots from the disk the AMI recorded, as an instance
// launched from it would, and every task must reach its credentials.

var breakProfile = flag.String("rehearse.break-profile", "",
	"rehearsal: break the build instance profile, to watch the cases go red: iam (IAM does not have it) or launch (IAM has it, EC2's RunInstances never sees it)")

// baselines maps each OS to the twin baseline of its CIS AMI: the firewall
// the ansible-lockdown CIS roles leave enabled (firewalld on the RPM
// distributions, ufw on Ubuntu).
var baselines = map[string]string{
	"al2023":     "al2023-firewalld",
	"al2":        "al2-firewalld",
	"rhel9":      "rhel9-firewalld",
	"ubuntu2204": "ubuntu2204-ufw",
}

// rehearsalKit is what every case shares: the generated templates, the
// stand-in plugin's directory, the pinned Packer.
type rehearsalKit struct {
	packer, plugins, templates, pathDir string
	images                              map[string]images.Image
}

func newRehearsalKit(tb testing.TB) rehearsalKit {
	tb.Helper()
	packer, plugins := packertest.Tool(tb)
	testenv.Root(tb, "the rehearsal's host twins")
	for _, cmd := range []string{"sshd", "ssh-keygen", "useradd", "sudo"} {
		if _, err := lookSbin(cmd); err != nil {
			testenv.Lacks(tb, fmt.Sprintf("the rehearsal needs %s (apt-get install openssh-server sudo): %v", cmd, err))
		}
	}
	// The account's build profile is the one the templates name.
	if release.BuildInstanceProfile != release.BuildInstanceProfile {
		tb.Fatalf("awssim's build instance profile %q is not the templates' %q", release.BuildInstanceProfile, release.BuildInstanceProfile)
	}
	k := rehearsalKit{packer: packer, plugins: plugins, templates: tb.TempDir(), pathDir: tb.TempDir(), images: map[string]images.Image{}}
	root, err := filepath.Abs("..")
	if err != nil {
		tb.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(k.pathDir, "session-manager-plugin"), "./internal/awssim/sessionplugin")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build the stand-in session-manager-plugin: %v\n%s", err, out)
	}
	gen := exec.Command("go", "run", "./cmd/cisecs", "generate", "-o", k.templates)
	gen.Dir = root
	if out, err := gen.CombinedOutput(); err != nil {
		tb.Fatalf("cisecs generate: %v\n%s", err, out)
	}
	paths, err := images.Files(imagesDir)
	if err != nil {
		tb.Fatal(err)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		tb.Fatal(err)
	}
	for _, img := range imgs {
		k.images[img.Name] = img
	}
	return k
}

func lookSbin(cmd string) (string, error) {
	if p, err := exec.LookPath(cmd); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, cmd); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", cmd)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// rehearsalCase is one build.
type rehearsalCase struct {
	name, image string
	// noDefaultVPC plays an account without a default VPC; subnet is then
	// passed as -var subnet_id.
	noDefaultVPC bool
	subnet       string
	// noUnits leaves out the stand-in docker.service and ecs.service, so
	// that the host script's services step fails.
	noUnits bool
	// interrupt sends SIGINT to packer once the provisioner runs; kill
	// sends SIGKILL to it and its plugins, as a killed CI job does, and
	// then cisecs janitor --builds' sweep, run as hours later, must
	// remove what the build left.
	interrupt, kill bool
	// wantErr is what packer's output must say when the build is to fail.
	wantErr string
}

// rehearsalResult is what one build did.
type rehearsalResult struct {
	wall   time.Duration
	copies int
	err    error
	// notes are what the verdict line does not say.
	notes []string
}

// rehearse runs one case and returns its verdict; it fails tb only for
// what keeps the rehearsal itself from running.
func rehearse(ctx context.Context, tb testing.TB, k rehearsalKit, c rehearsalCase) rehearsalResult {
	tb.Helper()
	start := time.Now()
	img, ok := k.images[c.image]
	if !ok {
		tb.Fatalf("image %q: not shipped", c.image)
	}
	osInfo, ok := images.LookupOS(img.Base.OS)
	if !ok {
		tb.Fatalf("image %q: os %q unknown", c.image, img.Base.OS)
	}
	baseline, ok := baselines[osInfo.Name]
	if !ok {
		tb.Fatalf("image %q: no twin baseline for os %q", c.image, osInfo.Name)
	}
	boot := &twinBoot{baseline: baseline, user: osInfo.SSHUsername, units: !c.noUnits, dir: tb.TempDir(), log: tb.Logf}
	rec := &iamRecorder{}
	o := awssim.Options{Images: awssim.CISImages(), Boot: boot.boot, NoDefaultVPC: c.noDefaultVPC, Authorize: rec.authorize}
	if *breakProfile == "launch" {
		o.Latencies.ProfileVisible = awssim.Never
	}
	front, url := awssim.ServeBuild(tb, o)
	switch *breakProfile {
	case "":
	case "iam":
		front.RemoveInstanceProfile(release.BuildInstanceProfile)
	case "launch":
		front.CreateInstanceProfile(release.BuildInstanceProfile) // made now, never visible (Latencies.ProfileVisible)
	default:
		tb.Fatalf("-rehearse.break-profile %q: iam or launch", *breakProfile)
	}
	// The nightly source step first: cisecs source picks the base the
	// build's data source will, and refuses one whose root the build's
	// volume would not replace.
	ec2c, _, _ := front.Clients()
	base, err := due.Checker{EC2: ec2c}.Base(ctx, img)
	if err == nil {
		err = due.Fits(img, base)
	}
	if err != nil {
		return rehearsalResult{wall: time.Since(start), err: fmt.Errorf("cisecs source: %w", err)}
	}

	dir := filepath.Join(tb.TempDir(), c.image)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(k.templates, c.image))); err != nil {
		tb.Fatal(err)
	}
	args := []string{"build"}
	if c.subnet != "" {
		args = append(args, "-var", "subnet_id="+c.subnet)
	}
	skip, err := skipAgent(filepath.Join(dir, c.image+".pkr.hcl"))
	if err != nil {
		tb.Fatal(err)
	}
	args = append(append(args, skip...), ".")

	home := tb.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(home, f), nil, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, k.packer, args...)
	cmd.Dir = dir
	cmd.Env = append(withoutAWS(os.Environ()),
		"PATH="+k.pathDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PACKER_PLUGIN_PATH="+k.plugins, "CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1",
		"HOME="+home, "PACKER_CONFIG_DIR="+home,
		"AWS_ENDPOINT_URL="+url, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+awssim.TestKey, "AWS_SECRET_ACCESS_KEY="+awssim.TestSecret,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		// The emulator answers at once: poll each second, not Packer's
		// default of two.
		"AWS_POLL_DELAY_SECONDS=1",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var live io.Writer
	if testing.Verbose() && os.Getenv("REHEARSE_LIVE") != "" {
		live = os.Stderr
	}
	sig := syscall.Signal(0)
	switch {
	case c.interrupt:
		sig = syscall.SIGINT
	case c.kill:
		sig = syscall.SIGKILL
	}
	out, err := runPacker(cmd, sig, live)
	tb.Logf("packer %s:\n%s", strings.Join(args, " "), out)
	res := rehearsalResult{copies: front.Calls("CopyImage")}

	verdict := func() error {
		if c.kill {
			if err == nil {
				return errors.New("packer build finished although it was killed")
			}
			if !strings.Contains(out, "cisecs: running steps") {
				return errors.New("packer was killed before the provisioner ran")
			}
			swept, err := sweepBuilds(ctx, front)
			res.notes = append(res.notes, "cisecs janitor --builds swept "+swept)
			return err
		}
		if c.interrupt {
			if err == nil {
				return errors.New("packer build finished although it was interrupted")
			}
			if !strings.Contains(out, "cisecs: running steps") {
				return errors.New("packer was interrupted before the provisioner ran")
			}
			return nil
		}
		if c.wantErr != "" {
			if err == nil {
				return fmt.Errorf("packer build succeeded, want it to fail with %q", c.wantErr)
			}
			if !strings.Contains(out, c.wantErr) {
				return fmt.Errorf("packer build failed (%v), but without %q: %s", err, c.wantErr, packerErrors(out))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("packer build: %v: %s", err, packerErrors(out))
		}
		return checkBuilt(ctx, front, dir, img, osInfo, baseline, base.ID)
	}()
	rec.stop()
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "cisecs ["); i >= 0 && strings.Contains(l, "] error: ") && verdict == nil && c.wantErr == "" && !c.interrupt {
			verdict = fmt.Errorf("the host script printed an error in a build that passed: %s", strings.TrimSpace(l[i:]))
		}
	}
	if err == nil {
		res.notes = append(res.notes, "timeline: "+timeline(front))
	}
	var open []string
	for _, ss := range front.Sessions() {
		if strings.HasSuffix(ss, " open") {
			open = append(open, strings.TrimSuffix(ss, " open"))
		}
	}
	if len(open) > 0 {
		res.notes = append(res.notes, fmt.Sprintf("SSM sessions never terminated (SSM ends them with the instance): %s", strings.Join(open, ", ")))
	}
	if verdict == nil && res.copies > 0 && len(img.Volume.RegionKMSKeyIDs) == 0 {
		// encrypt_boot makes the Amazon plugin copy the AMI (every
		// snapshot) once more and delete the first; only per-region keys
		// need it.
		verdict = fmt.Errorf("the build copied the AMI %d time(s) (CopyImage), with no region_kms_key_ids to need it: encrypt_boot is set where the launch volume's encryption would do", res.copies)
	}
	if verdict == nil {
		// What Packer made is the build's product: remove it, as a
		// release would after the gate, so that only leftovers remain.
		verdict = removeBuilt(ctx, front)
	}
	if verdict == nil {
		if left := front.BuildLeftovers(); len(left) > 0 {
			verdict = fmt.Errorf("left in the account: %s", strings.Join(left, ", "))
		}
	}
	if verdict == nil {
		if ev := front.EmptyVolumes(); len(ev) > 0 {
			verdict = fmt.Errorf("RunInstances attached new empty volumes %+v: the launch mapping names a device the AMI does not have (its root device is %q)", ev, osInfo.RootDevice)
		}
	}
	if verdict == nil {
		// Every call the build made, as IAM checks it, under the builder
		// policy (cisecs iam-policy builder).
		// A call with no IAM model fails the build's case, so that a
		// plugin upgrade cannot slip a new call past the check.
		denied, unexpanded := rec.denied(iampolicy.BuilderPolicy())
		switch {
		case len(unexpanded) > 0 && c.wantErr == "":
			verdict = fmt.Errorf("iam: %d calls the evaluator has no model for: %s", len(unexpanded), strings.Join(unexpanded, "; "))
		case len(unexpanded) > 0:
			res.notes = append(res.notes, fmt.Sprintf("iam: %d calls of a build that must fail, which the evaluator has no model for: %s", len(unexpanded), strings.Join(unexpanded, "; ")))
		}
		if verdict == nil && len(denied) > 0 {
			verdict = fmt.Errorf("the builder policy denies %d checks: %s", len(denied), strings.Join(denied, "; "))
		}
	}
	res.wall, res.err = time.Since(start), verdict
	return res
}

// timeline is when the build's milestones came, from its first call: the
// launch, the first SSM session, the stop, CreateImage, the termination
// and the temporary key pair's deletion (the last cleanup).
func timeline(front *awssim.Server) string {
	var first time.Time
	for _, op := range []string{"DescribeRegions", "DescribeImages", "GetCallerIdentity"} {
		if rs := front.Requests(op); len(rs) > 0 && (first.IsZero() || rs[0].Time.Before(first)) {
			first = rs[0].Time
		}
	}
	var parts []string
	for _, op := range []string{"RunInstances", "StartSession", "StopInstances", "CreateImage", "TerminateInstances", "DeleteKeyPair"} {
		rs := front.Requests(op)
		if len(rs) == 0 || first.IsZero() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s +%.1fs", op, rs[0].Time.Sub(first).Seconds()))
	}
	return strings.Join(parts, ", ")
}

// iamRecorder expands each request the front answers, under the front's
// lock (the resources as they stand then), into the checks IAM makes for
// it.
type iamRecorder struct {
	mu         sync.Mutex
	off        bool // the rehearsal's own calls, not the build's
	checks     []recordedCheck
	unexpanded []string
}

// builderUserID is the builder's aws:userid: every call the rehearsal
// records is the builder's.
const builderUserID = "AROABUILDER:cisecs-build"

// rehearsalState is the front's resources as IAM sees them, with the tag
// SSM puts on a session: its starter's aws:userid (every session here is
// the builder's).
type rehearsalState struct{ awssim.BuildResources }

func (s rehearsalState) Tags(arn string) map[string]string {
	if strings.HasPrefix(arn, "arn:aws:ssm:") && strings.Contains(arn, ":session/") {
		return map[string]string{"aws:ssmmessages:session-id": builderUserID}
	}
	return s.BuildResources.Tags(arn)
}

// stop ends the recording: what follows is the rehearsal's own cleanup.
func (r *iamRecorder) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.off = true
}

type recordedCheck struct {
	call  string
	check iameval.Check
}

var _ iameval.State = awssim.BuildResources{}

func (r *iamRecorder) authorize(a awssim.Authorization) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off {
		return
	}
	req := iameval.Request{Service: a.Service, Operation: a.Op, Region: a.Region, Account: a.Account, Query: a.Form, JSON: a.JSON,
		Caller: map[string][]string{"aws:userid": {builderUserID}}}
	call := a.Service + ":" + a.Op
	state := rehearsalState{awssim.BuildResources{Resources: a.State}}
	cs, err := iameval.Expand(req, state)
	if err != nil {
		r.unexpanded = append(r.unexpanded, fmt.Sprintf("%s: %v", call, err))
		return
	}
	for _, c := range cs {
		r.checks = append(r.checks, recordedCheck{call, c})
	}
}

// denied are the recorded checks p denies, each with IAM's reason, and
// the calls that could not be expanded (each kind once).
func (r *iamRecorder) denied(p iampolicy.Policy) (denied, unexpanded []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, rc := range r.checks {
		if d := iameval.Evaluate(p, rc.check); !d.Allowed {
			line := fmt.Sprintf("%s: %s: %s", rc.call, rc.check, d.Reason)
			if !seen[line] {
				seen[line] = true
				denied = append(denied, line)
			}
		}
	}
	for _, u := range r.unexpanded {
		if !seen[u] {
			seen[u] = true
			unexpanded = append(unexpanded, u)
		}
	}
	return denied, unexpanded
}

// runPacker runs cmd and returns its combined output; with a signal, it
// sends it to packer's process group once the provisioner has started the
// host script: SIGINT as a terminal's Ctrl-C does (Packer re-executes
// itself under panicwrap, whose parent ignores a SIGINT sent to it
// alone), SIGKILL as a killed CI job does.
func runPacker(cmd *exec.Cmd, sig syscall.Signal, live io.Writer) (string, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			buf.WriteString(line + "\n")
			if live != nil {
				fmt.Fprintln(live, line)
			}
			if sig != 0 && !sent && strings.Contains(line, "cisecs: running steps") {
				sent = true
				_ = syscall.Kill(-cmd.Process.Pid, sig)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	wg.Wait()
	return buf.String(), err
}

// packerErrors are the error lines of packer's output, or its last lines.
func packerErrors(out string) string {
	var errs []string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if strings.Contains(l, "Error") || strings.Contains(l, "error") || strings.HasPrefix(l, "==> Some builds didn't") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 && len(lines) > 3 {
		errs = lines[len(lines)-3:]
	}
	return strings.Join(errs, " | ")
}

// skipAgent returns the packer arguments that skip the host script's
// agent step. The template's skip_steps variable does it; a template
// without one (before the lead's change) gets the setting written into
// its provisioner block, which the rehearsal then says.
func skipAgent(tmpl string) ([]string, error) {
	b, err := os.ReadFile(tmpl)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte(`variable "skip_steps"`)) {
		return []string{"-var", `skip_steps=["agent"]`}, nil
	}
	const block = "provisioner \"cisecs\" {\n"
	if !bytes.Contains(b, []byte(block)) {
		return nil, fmt.Errorf("template %q: no provisioner \"cisecs\" block", tmpl)
	}
	b = bytes.Replace(b, []byte(block), []byte(block+"    skip_steps = [\"agent\"] # written by the rehearsal: the template has no skip_steps variable\n"), 1)
	return nil, os.WriteFile(tmpl, b, 0o644)
}

func withoutAWS(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return out
}

// checkBuilt checks what a successful build made: one AMI (the encrypted
// copy; the intermediate one deregistered), available, with the
// definition's provenance tags, IMDSv2 required, encrypted snapshots, and
// the manifest and report beside the template.
func checkBuilt(ctx context.Context, front *awssim.Server, dir string, img images.Image, osInfo images.OS, baseline, base string) error {
	made := front.MadeImages()
	if len(made) != 1 {
		var ids []string
		for _, m := range made {
			ids = append(ids, m.ID+" "+m.Name)
		}
		return fmt.Errorf("the build left %d AMIs registered, want 1: %v", len(made), ids)
	}
	ami := made[0]
	var problems []string
	if ami.State != "available" {
		problems = append(problems, "AMI state "+ami.State)
	}
	if ami.IMDSSupport != "v2.0" {
		problems = append(problems, fmt.Sprintf("AMI imds support %q, want v2.0", ami.IMDSSupport))
	}
	if ami.Tags[release.TagImage] != img.Name || !strings.HasPrefix(ami.Tags[release.TagSourceAMI], "ami-") ||
		ami.Tags[release.TagDefinitionSHA256] == "" || ami.Tags[release.TagOS] != img.Base.OS {
		problems = append(problems, fmt.Sprintf("AMI tags %v", ami.Tags))
	}
	if ami.Tags[release.TagSourceAMI] != base {
		problems = append(problems, fmt.Sprintf("AMI built from %s, but cisecs source chose %s: the nightly source step and the build disagree", ami.Tags[release.TagSourceAMI], base))
	}
	if ami.RootDeviceName != osInfo.RootDevice {
		problems = append(problems, fmt.Sprintf("AMI root device %q, want %q", ami.RootDeviceName, osInfo.RootDevice))
	}
	for _, d := range ami.BlockDevices {
		if !d.Encrypted {
			problems = append(problems, "snapshot "+d.SnapshotID+" not encrypted")
		}
		if d.DeviceName == osInfo.RootDevice && d.SizeGB != img.Volume.SizeGB {
			problems = append(problems, fmt.Sprintf("root volume %d GiB, want %d", d.SizeGB, img.Volume.SizeGB))
		}
	}
	var manifest struct {
		Builds []struct {
			ArtifactID string `json:"artifact_id"`
		} `json:"builds"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil {
		problems = append(problems, "no manifest: "+err.Error())
	} else if err := json.Unmarshal(b, &manifest); err != nil || len(manifest.Builds) != 1 || manifest.Builds[0].ArtifactID != "us-east-1:"+ami.ID {
		problems = append(problems, fmt.Sprintf("manifest %s, want artifact us-east-1:%s", b, ami.ID))
	}
	// Every step ran but agent (skip_steps) and report, which the report
	// does not list.
	want := slices.DeleteFunc(hostscript.Options{SkipSteps: []string{"agent"}}.EffectiveSteps(), func(s string) bool { return s == "report" })
	if b, err := os.ReadFile(filepath.Join(dir, "cisecs-report-"+img.Name+".json")); err != nil {
		problems = append(problems, "no report: "+err.Error())
	} else if rep, err := hostscript.ParseReport(b); err != nil || rep.Result != "ok" {
		problems = append(problems, fmt.Sprintf("report result %q (%v)", rep.Result, err))
	} else if got := rep.StepNames(); !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("report steps %q, want %q", got, want))
	}
	if ami.HostState == "" {
		problems = append(problems, "the AMI does not record the twin's disk")
	} else if err := bootImage(ctx, baseline, ami.HostState); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("AMI %s: %s", ami.ID, strings.Join(problems, "; "))
	}
	return nil
}

// bootImage boots a twin from the disk the AMI recorded, as an instance
// launched from the image would boot, and checks that every task reaches
// its credentials through the CIS firewall.
func bootImage(ctx context.Context, baseline, disk string) error {
	b, err := twin.LookupBaseline(baseline)
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tw, err := twin.New(bctx, twin.Options{Baseline: b, Dir: disk})
	if err != nil {
		return fmt.Errorf("boot the image's disk: %w", err)
	}
	defer tw.Close()
	for _, task := range twin.Tasks() {
		if _, err := tw.Credentials(bctx, task); err != nil {
			return fmt.Errorf("booted from the image: %s task: %w", task, err)
		}
	}
	return nil
}

// sweepBuilds runs what cisecs janitor --builds runs
// (leftovers.Sweeper), as if more than leftovers.MaxBuild after the
// build started, and says what it removed.
func sweepBuilds(ctx context.Context, front *awssim.Server) (string, error) {
	client := ec2.NewFromConfig(front.Config())
	sw := leftovers.Sweeper{EC2: client, Terminated: func(ctx context.Context, ids []string) error {
		return ec2.NewInstanceTerminatedWaiter(client, func(o *ec2.InstanceTerminatedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
		}).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, time.Minute)
	}}
	swept, err := sw.Sweep(ctx, time.Now().Add(leftovers.MaxBuild+time.Minute))
	var parts []string
	for _, r := range []struct {
		what string
		ids  []string
	}{
		{"instances", swept.Instances}, {"volumes", swept.Volumes}, {"key pairs", swept.KeyPairs},
		{"security groups", swept.SecurityGroups}, {"AMIs", swept.Images}, {"snapshots", swept.Snapshots},
	} {
		parts = append(parts, fmt.Sprintf("%d %s", len(r.ids), r.what))
	}
	if err != nil {
		return strings.Join(parts, ", "), fmt.Errorf("cisecs janitor --builds: %w", err)
	}
	return strings.Join(parts, ", "), nil
}

// removeBuilt deregisters the AMIs the build made and deletes their
// snapshots, through EC2's API.
func removeBuilt(ctx context.Context, front *awssim.Server) error {
	client := ec2.NewFromConfig(front.Config())
	for _, img := range front.MadeImages() {
		if _, err := client.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(img.ID)}); err != nil {
			return fmt.Errorf("deregister %s: %w", img.ID, err)
		}
		for _, d := range img.BlockDevices {
			if _, err := client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(d.SnapshotID)}); err != nil {
				return fmt.Errorf("delete snapshot %s: %w", d.SnapshotID, err)
			}
		}
	}
	return nil
}

// twinBoot boots a host twin for each instance, prepared as cloud-init
// and the OS packages would have left it.
type twinBoot struct {
	baseline, user, dir string
	units               bool
	log                 func(format string, args ...any)
}

// sshdDir holds sshd's own files in the twin's private /run, where the
// host script's cleanup step (which removes the host keys under /etc/ssh)
// does not reach.
const sshdDir = "/run/cisecs-rehearse"

func (tb *twinBoot) boot(ctx context.Context, l awssim.Launch) (awssim.Host, error) {
	b, err := twin.LookupBaseline(tb.baseline)
	if err != nil {
		return awssim.Host{}, err
	}
	dir, err := os.MkdirTemp(tb.dir, l.InstanceID+"-")
	if err != nil {
		return awssim.Host{}, err
	}
	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tw, err := twin.New(bctx, twin.Options{Baseline: b, Dir: dir, IMDSHopLimit: max(l.Metadata.HopLimit, 1)})
	if err != nil {
		return awssim.Host{}, fmt.Errorf("boot twin %q: %w", tb.baseline, err)
	}
	if err := tb.prepare(bctx, ctx, tw, l); err != nil {
		_ = tw.Close()
		return awssim.Host{}, fmt.Errorf("twin %q of %s: %w", tb.baseline, l.InstanceID, err)
	}
	tb.log("instance %s: twin %s (%s) up, sshd for %s", l.InstanceID, tw.Name(), tb.baseline, tb.user)
	var once sync.Once
	var closeErr error
	return awssim.Host{
		Dial: func(ctx context.Context, port int) (net.Conn, error) {
			return dialIn(ctx, tw.NetNS(twin.VPC), net.JoinHostPort(twin.HostAddr, strconv.Itoa(port)))
		},
		Close: func() error {
			once.Do(func() { closeErr = tw.Close() })
			return closeErr
		},
		State: tw.Dir(),
	}, nil
}

// dialIn dials addr from a socket made in the network namespace nsPath.
func dialIn(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	var conn net.Conn
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp4", addr)
		return err
	})
	return conn, err
}

// prepare does in the twin what the OS packages and cloud-init would have:
// docker.service and ecs.service installed (the agent step's packages),
// the default user with the key pair's public key and passwordless sudo,
// and sshd running.
// sshd runs until life ends (or the twin closes).
func (tb *twinBoot) prepare(ctx, life context.Context, tw *twin.Twin, l awssim.Launch) error {
	if tb.units {
		for _, unit := range []string{"docker.service", "ecs.service"} {
			stub := "[Unit]\nDescription=" + unit + " (stand-in for the agent step's package)\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
			if err := tw.WriteFile("/etc/systemd/system/"+unit, []byte(stub), 0o644); err != nil {
				return err
			}
		}
	}
	if l.PublicKey == "" {
		return errors.New("the launch has no key pair")
	}
	u := tb.user
	home := "/home/" + u
	for _, argv := range [][]string{
		{"sh", "-c", "id -u " + u + " >/dev/null 2>&1 || useradd -m -s /bin/bash " + u},
		{"usermod", "-p", "*", u}, // not locked: sshd without PAM refuses locked accounts
		{"install", "-d", "-m", "0700", "-o", u, "-g", u, home + "/.ssh"},
		{"install", "-d", "-m", "0755", "/run/sshd", sshdDir},
		{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", sshdDir + "/host_key"},
	} {
		if out, err := tw.Exec(ctx, nil, argv...); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
		}
	}
	sshdConfig := strings.Join([]string{
		"ListenAddress " + twin.HostAddr, "Port 22",
		"HostKey " + sshdDir + "/host_key",
		"AuthorizedKeysFile .ssh/authorized_keys",
		"PermitRootLogin no", "PasswordAuthentication no",
		"KbdInteractiveAuthentication no", "UsePAM no",
		"PidFile " + sshdDir + "/sshd.pid", "Subsystem sftp internal-sftp", "",
	}, "\n")
	for _, f := range []struct {
		path string
		data string
		mode os.FileMode
	}{
		{sshdDir + "/sshd_config", sshdConfig, 0o600},
		{home + "/.ssh/authorized_keys", l.PublicKey + "\n", 0o600},
		{"/etc/sudoers.d/90-cloud-init-users", "# Created by cloud-init (the rehearsal's stand-in)\n" + u + " ALL=(ALL) NOPASSWD:ALL\n", 0o440},
	} {
		if err := tw.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	if out, err := tw.Exec(ctx, nil, "chown", u+":"+u, home+"/.ssh/authorized_keys"); err != nil {
		return fmt.Errorf("chown: %w: %s", err, out)
	}
	sshd, err := lookSbin("sshd")
	if err != nil {
		return err
	}
	if _, err := tw.Start(life, sshd, "-D", "-e", "-f", sshdDir+"/sshd_config"); err != nil {
		return err
	}
	addr := net.JoinHostPort(twin.HostAddr, "22")
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := dialIn(ctx, tw.NetNS(twin.VPC), addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd does not answer on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rehearsalCases are every shipped image's build, and the builds that
// must fail (or be cut) and leave nothing.
func rehearsalCases(k rehearsalKit) []rehearsalCase {
	var cases []rehearsalCase
	for _, name := range sortedNames(k.images) {
		cases = append(cases, rehearsalCase{name: name, image: name})
	}
	return append(cases,
		rehearsalCase{name: "al2023-cis-level1:no-default-vpc-subnet", image: "al2023-cis-level1", noDefaultVPC: true, subnet: awssim.BuildSubnet},
		rehearsalCase{name: "al2023-cis-level1:no-default-vpc", image: "al2023-cis-level1", noDefaultVPC: true, wantErr: "VPCIdNotSpecified"},
		rehearsalCase{name: "al2023-cis-level1:provisioner-fails", image: "al2023-cis-level1", noUnits: true, wantErr: "docker.service is not installed"},
		rehearsalCase{name: "al2023-cis-level1:interrupted", image: "al2023-cis-level1", interrupt: true},
		rehearsalCase{name: "al2023-cis-level1:killed", image: "al2023-cis-level1", kill: true},
	)
}

func sortedNames(m map[string]images.Image) []string { return slices.Sorted(maps.Keys(m)) }

// TestRehearse is `make rehearse`: one verdict line per case,
// "rehearse: NAME: PASS (N.Ns)" or "rehearse: NAME: FAIL: reason".
func TestRehearse(t *testing.T) {
	k := newRehearsalKit(t)
	fmt.Println("rehearse: every step of the host script runs but agent, which needs the OS's package repositories (stand-in docker.service and ecs.service take its place)")
	for _, c := range rehearsalCases(k) {
		t.Run(c.name, func(t *testing.T) {
			// Each case has its own emulator and twins; most of a
			// build is waiting on Packer's pollers.
			t.Parallel()
			r := rehearse(t.Context(), t, k, c)
			for _, n := range r.notes {
				fmt.Printf("rehearse: %s: note: %s\n", c.name, n)
			}
			if r.err != nil {
				fmt.Printf("rehearse: %s: FAIL: %v\n", c.name, r.err)
				t.Error(r.err)
				return
			}
			fmt.Printf("rehearse: %s: PASS (%.1fs)\n", c.name, r.wall.Seconds())
		})
	}
}

// BenchmarkRehearse measures each shipped image's build: its wall time
// and the snapshot copies (CopyImage calls) it makes.
func BenchmarkRehearse(b *testing.B) {
	k := newRehearsalKit(b)
	for _, name := range sortedNames(k.images) {
		b.Run(name, func(b *testing.B) {
			var wall time.Duration
			var copies int
			for b.Loop() {
				r := rehearse(b.Context(), b, k, rehearsalCase{name: name, image: name})
				if r.err != nil {
					b.Fatal(r.err)
				}
				wall += r.wall
				copies += r.copies
			}
			n := float64(b.N)
			budget.Max(b, "rehearse "+name+": packer build against awssim and a twin", wall.Seconds()/n, 120, "s/build")
			// No shipped image copies to another region, and the launch
			// volume's encryption makes encrypt_boot's extra copy (one
			// more CopyImage of every snapshot) needless.
			budget.Max(b, "rehearse "+name+": snapshot copies (CopyImage)", float64(copies)/n, 0, "copies/build")
		})
	}
}
