package awsaccount_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awsaccount"
	"github.com/cisecs/cisecs/internal/awssim"
)

// TestConnect connects through the SDK's default chain, cut off from the
// machine (awssim.IsolateEnv), to a front: it names the caller when
// the credentials work, and otherwise says, with a typed error, whether
// the region or the credentials are wrong and what to do. A region of the
// wrong form is refused before any call.
func TestConnect(t *testing.T) {
	tests := []struct {
		name   string
		front  awssim.Options
		env    map[string]string // set after IsolateEnv; AWS_ENDPOINT_URL "closed": a closed port
		region string
		check  func(t *testing.T, a *awsaccount.Account, err error)
		calls  int // GetCallerIdentity calls the front must see
	}{{
		name:   "credentials work",
		env:    map[string]string{"AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
		region: "eu-west-1",
		calls:  1,
		check: func(t *testing.T, a *awsaccount.Account, err error) {
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if a.ID != "000000000000" || a.CallerARN != "arn:aws:iam::000000000000:root" || a.Config.Region != "eu-west-1" {
				t.Errorf("Connect: account %q, caller %q, region %q", a.ID, a.CallerARN, a.Config.Region)
			}
		},
	}, {
		name:  "region from the environment",
		env:   map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
		calls: 1,
		check: func(t *testing.T, a *awsaccount.Account, err error) {
			if err != nil || a.Config.Region != "eu-central-1" {
				t.Fatalf("Connect: %v, want region eu-central-1", err)
			}
		},
	}, {
		name:   "no credentials",
		region: "eu-west-1",
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var ce *awsaccount.CredentialsError
			if !errors.As(err, &ce) || ce.Refused {
				t.Fatalf("Connect: %v, want a CredentialsError for none found", err)
			}
			wantIn(t, err, "AWS credentials: none found", "AWS_PROFILE", `"aws configure"`)
		},
	}, {
		name:   "credentials refused",
		front:  awssim.Options{InvalidCredentials: true},
		env:    map[string]string{"AWS_ACCESS_KEY_ID": "AKIDDELETED", "AWS_SECRET_ACCESS_KEY": "x"},
		region: "eu-west-1",
		calls:  1,
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var ce *awsaccount.CredentialsError
			if !errors.As(err, &ce) || !ce.Refused || ce.Region != "eu-west-1" {
				t.Fatalf("Connect: %v, want a CredentialsError for refused ones", err)
			}
			wantIn(t, err, `AWS credentials: refused in region "eu-west-1"`, "InvalidClientTokenId", "AWS_PROFILE", `"aws configure"`)
		},
	}, {
		name:   "unknown profile",
		env:    map[string]string{"AWS_PROFILE": "nope"},
		region: "eu-west-1",
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var ce *awsaccount.CredentialsError
			if !errors.As(err, &ce) {
				t.Fatalf("Connect: %v, want a CredentialsError", err)
			}
			wantIn(t, err, "nope", "AWS_PROFILE")
		},
	}, {
		name:   "malformed region",
		env:    map[string]string{"AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
		region: "EU_WEST_1",
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var re *awsaccount.RegionError
			if !errors.As(err, &re) || re.Configured || re.Unreachable || re.Region != "EU_WEST_1" {
				t.Fatalf("Connect: %v, want a RegionError for the region given", err)
			}
			wantIn(t, err, `region "EU_WEST_1": not a region name; want one like eu-west-1`)
		},
	}, {
		name: "malformed region in the environment",
		env:  map[string]string{"AWS_REGION": "EU_WEST_1", "AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var re *awsaccount.RegionError
			if !errors.As(err, &re) || !re.Configured {
				t.Fatalf("Connect: %v, want a RegionError for the configured region", err)
			}
			wantIn(t, err, `region "EU_WEST_1" (from AWS_REGION or the profile): not a region name`)
		},
	}, {
		name: "no region",
		env:  map[string]string{"AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var re *awsaccount.RegionError
			if !errors.As(err, &re) || re.Region != "" {
				t.Fatalf("Connect: %v, want a RegionError for no region", err)
			}
			wantIn(t, err, "region: none given, and none configured", "like eu-west-1")
		},
	}, {
		name:   "region out of reach",
		env:    map[string]string{"AWS_ENDPOINT_URL": "closed", "AWS_ACCESS_KEY_ID": awssim.TestKey, "AWS_SECRET_ACCESS_KEY": awssim.TestSecret},
		region: "xx-nowhere-1",
		check: func(t *testing.T, _ *awsaccount.Account, err error) {
			var re *awsaccount.RegionError
			if !errors.As(err, &re) || !re.Unreachable || re.Region != "xx-nowhere-1" {
				t.Fatalf("Connect: %v, want a RegionError for a region out of reach", err)
			}
			wantIn(t, err, `region "xx-nowhere-1": cannot reach AWS STS there`, "connection refused", "like eu-west-1")
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awssim.IsolateEnv(t)
			front := awssim.ServeTCP(t, tt.front)
			for k, v := range tt.env {
				if k == "AWS_ENDPOINT_URL" && v == "closed" {
					v = awssim.ClosedURL(t)
				}
				t.Setenv(k, v)
			}
			a, err := awsaccount.Connect(t.Context(), tt.region)
			t.Logf("Connect: %v", err)
			tt.check(t, a, err)
			ops := front.Ops()
			if ops["GetCallerIdentity"] != tt.calls || len(ops) > 1 {
				t.Errorf("the front saw %v, want %d GetCallerIdentity and nothing else", ops, tt.calls)
			}
		})
	}
}

// wantIn fails t unless err's message holds every one of parts.
func wantIn(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v: want it to say %q", err, p)
		}
	}
}
