package builder_test

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/packertest"
	"github.com/cisecs/cisecs/internal/testenv"
)

// minimal returns a definition of an image on os and arch, built in
// region, with nothing else set.
func minimal(t *testing.T, os, arch, region string) images.Image {
	t.Helper()
	src := fmt.Sprintf(`image "min" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS*"
    architecture = %q
    os           = %q
  }
  region = %q
}
`, arch, os, region)
	img, err := images.Parse("min.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// userData returns the user_data of the rendered amazon-ebs source of
// img, as Packer reads it, and whether it is set.
func userData(t *testing.T, img images.Image) (string, bool) {
	t.Helper()
	f := parse(t, render(t, img))
	if _, ok := attrsOf(t, f, []string{"source", "amazon-ebs", img.Name})["user_data"]; !ok {
		return "", false
	}
	return literal(t, f, []string{"source", "amazon-ebs", img.Name}, "user_data").AsString(), true
}

// TestSSMAgentUserData renders a definition of every OS and architecture:
// the OSes whose CIS AMIs lack the SSM agent (RHEL) get user data that
// installs the agent's rpm for the build region and architecture, and it
// is, byte for byte, what SSMAgentUserData renders (HCL's heredoc changes
// nothing), and not valid base64 (which the plugin would send unencoded);
// the others get no user data.
func TestSSMAgentUserData(t *testing.T) {
	install := map[string]bool{"rhel8": true, "rhel9": true}
	for _, o := range images.OSes() {
		for _, arch := range images.Architectures() {
			t.Run(o.Name+"/"+arch, func(t *testing.T) {
				img := minimal(t, o.Name, arch, "eu-central-1")
				got, ok := userData(t, img)
				if ok != install[o.Name] {
					t.Fatalf("user_data set: %v, want %v", ok, install[o.Name])
				}
				want, err := builder.SSMAgentUserData(img)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Errorf("user_data as Packer reads it:\n%s\nwant:\n%s", got, want)
				}
				if !ok {
					return
				}
				goarch := map[string]string{"x86_64": "amd64", "arm64": "arm64"}[arch]
				url := "https://s3.eu-central-1.amazonaws.com/amazon-ssm-eu-central-1/latest/linux_" + goarch + "/amazon-ssm-agent.rpm"
				if !strings.Contains(got, "readonly AGENT_RPM_URL='"+url+"'\n") {
					t.Errorf("user data does not install %s:\n%s", url, got)
				}
				// The plugin sends user data that decodes as base64 as it
				// is, as already encoded; the script must not.
				if _, err := base64.StdEncoding.DecodeString(got); err == nil {
					t.Error("user data is valid base64: the plugin would not encode it")
				}
			})
		}
	}
}

// TestSSMAgentUserDataShellcheck runs shellcheck on the user data of each
// OS and architecture that gets one, as Packer reads it from the rendered
// template.
func TestSSMAgentUserDataShellcheck(t *testing.T) {
	testenv.Tool(t, "shellcheck", "./run test installs it")
	for _, o := range images.OSes() {
		if !o.InstallSSMAgent {
			continue
		}
		for _, arch := range images.Architectures() {
			t.Run(o.Name+"/"+arch, func(t *testing.T) {
				ud, _ := userData(t, minimal(t, o.Name, arch, "us-west-2"))
				cmd := exec.Command("shellcheck", "--shell=bash", "--severity=style", "-")
				cmd.Stdin = strings.NewReader(ud)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("shellcheck: %v\n%s", err, out)
				}
			})
		}
	}
}

// fakeTools writes to dir the commands the user data runs (rpm, curl,
// systemctl), each logging its arguments to dir/calls. rpm -q answers
// from dir/installed; rpm --install and systemctl enable create it and
// dir/active.
func fakeTools(t *testing.T, dir string) {
	t.Helper()
	calls := filepath.Join(dir, "calls")
	tools := map[string]string{
		"rpm": `case $1 in
-q) [[ -e "$D/installed" ]] || exit 1; [[ $2 == --quiet ]] || echo amazon-ssm-agent-3.3.0-1.x86_64 ;;
--install) [[ -s $2 ]] || exit 1; touch "$D/installed" ;;
*) exit 2 ;;
esac`,
		"curl": `out=""; while (($#)); do [[ $1 == --output ]] && { out=$2; shift; }; shift; done
echo rpm >"$out"`,
		"systemctl": `case $* in
"--quiet is-enabled amazon-ssm-agent.service"|"--quiet is-active amazon-ssm-agent.service") [[ -e "$D/active" ]] ;;
"enable --now amazon-ssm-agent.service") touch "$D/active" ;;
*) exit 2 ;;
esac`,
	}
	for name, body := range tools {
		script := "#!/bin/bash\nD=" + dir + "\necho \"" + name + " $*\" >>" + calls + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSSMAgentUserDataRuns runs the rendered user data with fake rpm, curl
// and systemctl: on a host without the agent it downloads the region's rpm,
// installs it and enables the service; run again, and on a host that has
// the agent running, it changes nothing.
func TestSSMAgentUserDataRuns(t *testing.T) {
	ud, ok := userData(t, minimal(t, "rhel9", "arm64", "ap-southeast-2"))
	if !ok {
		t.Fatal("no user data for rhel9")
	}
	url := "https://s3.ap-southeast-2.amazonaws.com/amazon-ssm-ap-southeast-2/latest/linux_arm64/amazon-ssm-agent.rpm"
	dir := t.TempDir()
	fakeTools(t, dir)
	run := func() (calls, out string) {
		t.Helper()
		os.Remove(filepath.Join(dir, "calls"))
		cmd := exec.Command("bash", "-s")
		cmd.Stdin = strings.NewReader(ud)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "TMPDIR="+dir)
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("user data: %v\n%s", err, o)
		}
		c, _ := os.ReadFile(filepath.Join(dir, "calls"))
		return string(c), string(o)
	}

	calls, out := run()
	for _, want := range []string{
		"curl --fail --silent --show-error --location --retry 10 --retry-connrefused --retry-delay 3 --output " + dir + "/",
		".rpm " + url + "\n",
		"rpm --install " + dir + "/",
		"systemctl enable --now amazon-ssm-agent.service\n",
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("first run: no call %q; calls:\n%s", want, calls)
		}
	}
	if !strings.Contains(out, "changed: installed amazon-ssm-agent") || !strings.Contains(out, "changed: enabled and started") {
		t.Errorf("first run does not say what it changed:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.rpm")); len(left) != 0 {
		t.Errorf("first run left %q", left)
	}

	calls, out = run()
	for _, banned := range []string{"curl", "rpm --install", "systemctl enable"} {
		if strings.Contains(calls, banned) {
			t.Errorf("second run called %q; calls:\n%s", banned, calls)
		}
	}
	if strings.Count(out, "kept: ") != 2 || strings.Contains(out, "changed: ") {
		t.Errorf("second run should keep both steps:\n%s", out)
	}
}

// TestRenderBoundsTheSessionWait checks that every template sets
// ssh_timeout, the wait that ends a build whose instance's SSM agent never
// connects, to SSHTimeout, and that it leaves room for the user data.
func TestRenderBoundsTheSessionWait(t *testing.T) {
	d, err := time.ParseDuration(builder.SSHTimeout)
	if err != nil || d < 10*time.Minute || d > 30*time.Minute {
		t.Fatalf("SSHTimeout %q (%v): want 10m to 30m", builder.SSHTimeout, err)
	}
	for _, o := range images.OSes() {
		t.Run(o.Name, func(t *testing.T) {
			img := minimal(t, o.Name, "x86_64", "us-east-1")
			got := literal(t, parse(t, render(t, img)), []string{"source", "amazon-ebs", "min"}, "ssh_timeout")
			if !got.RawEquals(cty.StringVal(builder.SSHTimeout)) {
				t.Errorf("ssh_timeout = %#v, want %q", got, builder.SSHTimeout)
			}
		})
	}
}

// TestPackerSSHTimeoutEndsTheWait proves with the pinned Packer what
// bounds a build whose SSM agent never connects. The amazon-ebs builder
// starts the Session Manager tunnel in the background (its StartSession
// retries TargetNotConnected without limit) and then waits for SSH on the
// tunnel's local port, where nothing listens until the tunnel is up. The
// SDK's SSH step, which every Packer builder shares, gives up after
// ssh_timeout, and the build fails. Here a null source waits on a closed
// local port with the rendered template's ssh_timeout attribute, shortened
// to 3s.
func TestPackerSSHTimeoutEndsTheWait(t *testing.T) {
	packertest.Tool(t)
	img := minimal(t, "rhel9", "x86_64", "us-east-1")
	src := attrsOf(t, parse(t, render(t, img)), []string{"source", "amazon-ebs", "min"})
	if _, ok := src["ssh_timeout"]; !ok {
		t.Fatal("rendered source has no ssh_timeout")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	tmpl := fmt.Sprintf(`source "null" "tunnel" {
  communicator = "ssh"
  ssh_host     = "127.0.0.1"
  ssh_port     = %d
  ssh_username = "ec2-user"
  ssh_password = "unused"
  ssh_timeout  = "3s"
}

build {
  sources = ["source.null.tunnel"]
}
`, port)
	start := time.Now()
	out, err := packerRun(t, []byte(tmpl), "build", ".")
	took := time.Since(start)
	if err == nil {
		t.Fatalf("packer build succeeded:\n%s", out)
	}
	if !strings.Contains(out, "Timeout waiting for SSH") {
		t.Errorf("packer build did not fail on ssh_timeout (%v):\n%s", err, out)
	}
	if took > time.Minute {
		t.Errorf("packer build took %s with ssh_timeout 3s", took)
	}
}
