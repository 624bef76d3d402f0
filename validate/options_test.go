package validate_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// TestValidateSettingErrors: Validate says what is wrong with each bad
// setting at once, each a *validate.SettingError naming the Options field
// (so that a command can name its flag), with the value and what a good
// one looks like.
func TestValidateSettingErrors(t *testing.T) {
	good := validate.Options{ImageID: "ami-0123456789abcdef0", RoleARN: "arn:aws:iam::123456789012:role/cisecs-probe", RunID: "run-1"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good options: %v", err)
	}
	bad := validate.Options{
		ImageID:        " ",
		NetworkModes:   []string{"nat"},
		RoleARN:        "ecsTaskRole",
		ProbeImage:     "x y",
		Timeout:        -time.Second,
		CleanupTimeout: -time.Minute,
		RunID:          "a b",
		Publish:        "/cisecs/x", // no Publisher: wiring, Run's to refuse
	}
	want := []validate.SettingError{
		{Setting: "ImageID", Label: "image id", Problem: "empty"},
		{Setting: "NetworkModes", Label: "network modes", Problem: `unknown mode "nat" (modes are awsvpc, bridge, host)`},
		{Setting: "NetworkModes", Label: "network modes", Value: `"nat"`, Problem: "the gate needs awsvpc (the forced-stop and reboot checks use it); want awsvpc or a list with it, such as awsvpc,bridge,host"},
		{Setting: "RoleARN", Label: "role arn", Value: `"ecsTaskRole"`, Problem: "not an IAM role ARN; want one like arn:aws:iam::123456789012:role/NAME"},
		{Setting: "ProbeImage", Label: "probe image", Value: `"x y"`, Problem: "not an image reference; want one like " + validate.DefaultProbeImage},
		{Setting: "Timeout", Label: "timeout", Value: "-1s", Problem: "negative; want a duration like 45m0s"},
		{Setting: "CleanupTimeout", Label: "cleanup timeout", Value: "-1m0s", Problem: "negative; want a duration like 15m0s"},
		{Setting: "RunID", Label: "run id", Value: `"a b"`, Problem: "want 1 to 64 letters, digits and hyphens"},
	}
	err := bad.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate: %v, want the errors joined", err)
	}
	got := joined.Unwrap()
	if len(got) != len(want) {
		t.Fatalf("Validate: %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i, e := range got {
		var se *validate.SettingError
		if !errors.As(e, &se) || *se != want[i] {
			t.Errorf("error %d: %#v, want %#v", i, e, want[i])
		}
	}
	if s := want[0].Error(); s != "image id: empty" {
		t.Errorf("Error() without a value = %q", s)
	}
	if s := want[3].Error(); s != `role arn "ecsTaskRole": not an IAM role ARN; want one like arn:aws:iam::123456789012:role/NAME` {
		t.Errorf("Error() with a value = %q", s)
	}
}

// TestProbesIMDSBlocked: IMDSBlocked asks the awsvpc probes to find IMDS
// blocked, BridgeIMDSBlocked the bridge probe; each leaves the other mode
// alone, and neither asks it of the host-mode probe: that task is the
// host, and reaches IMDS as the host does.
func TestProbesIMDSBlocked(t *testing.T) {
	tests := []struct {
		name                   string
		awsvpc, bridge         bool
		wantAWSVPC, wantBridge bool
	}{
		{"neither", false, false, false, false},
		{"awsvpc", true, false, true, false},
		{"bridge", false, true, false, true},
		{"both", true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validate.Options{ImageID: "ami-0123456789abcdef0", IMDSBlocked: tt.awsvpc, BridgeIMDSBlocked: tt.bridge}
			for _, p := range o.Probes() {
				want := tt.wantAWSVPC
				switch p.Mode {
				case release.ModeBridge:
					want = tt.wantBridge
				case release.ModeHost:
					want = false
				}
				if p.IMDSBlocked != want {
					t.Errorf("%s probe (hold %v): IMDSBlocked %v, want %v", p.Mode, p.Hold, p.IMDSBlocked, want)
				}
			}
		})
	}
}

// TestSettingErrors: the setting errors in a tree of wrapped and joined
// errors come out in order, and the others beside them, none lost.
func TestSettingErrors(t *testing.T) {
	a := &validate.SettingError{Setting: "ImageID", Label: "image id", Problem: "empty"}
	b := &validate.SettingError{Setting: "RunID", Label: "run id", Problem: "bad"}
	other := errors.New("no publisher")
	err := fmt.Errorf("options: %w", errors.Join(a, other, fmt.Errorf("more: %w", b)))
	got, rest := validate.SettingErrors(err)
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("settings %v, want %v and %v", got, a, b)
	}
	if !errors.Is(rest, other) || rest.Error() != "no publisher" {
		t.Errorf("rest %v, want the error that names no setting", rest)
	}
	if got, rest := validate.SettingErrors(nil); got != nil || rest != nil {
		t.Errorf("nil: %v, %v", got, rest)
	}
}
