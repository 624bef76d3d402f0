package awsgate_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/publish"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestBackend walks the gate's whole path on the emulator: launch, a probe
// per mode, a held task stopped by force, a reboot, diagnostics, cleanup
// (twice); and checks what the backend asked AWS for.
func TestBackend(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe}
	inBubble(t, o, func(t *testing.T, e *env) {
		ctx := t.Context()
		b := e.backend(t, nil)
		run := runID(t)
		if got := b.Name(); got != "aws" {
			t.Errorf("Name() = %q, want aws", got)
		}

		start := time.Now()
		if err := b.Launch(ctx, probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if took := time.Since(start); took != 61*time.Second {
			t.Errorf("Launch took %s (fake), want 61s: 1s RunInstances + 40s boot + 20s agent", took)
		}

		for _, p := range probes {
			got, err := b.RunProbe(ctx, p)
			if err != nil {
				t.Fatalf("RunProbe(%s): %v", p.Mode, err)
			}
			if got.ExitCode != 0 || !strings.Contains(got.Reason, "Essential container in task exited") || got.TaskID == "" {
				t.Errorf("RunProbe(%s) = %+v, want exit 0, task exited", p.Mode, got)
			}
		}

		held := validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true}
		task, err := b.StartTask(ctx, held)
		if err != nil {
			t.Fatalf("StartTask: %v", err)
		}
		if err := b.ForceStop(ctx, task); err != nil {
			t.Fatalf("ForceStop: %v", err)
		}
		if got := e.front.Tasks(run); !slices.Contains(got, task+" STOPPED") {
			t.Errorf("after ForceStop, tasks %q: want %s STOPPED", got, task)
		}
		stops := e.front.Requests("StopTask")
		if len(stops) != 1 || stops[0].JSON["reason"] != awsgate.ForcedStopReason {
			t.Errorf("StopTask requests %v, want one with reason %q", stops, awsgate.ForcedStopReason)
		}

		if err := b.Reboot(ctx); err != nil {
			t.Fatalf("Reboot: %v", err)
		}
		if got, err := b.RunProbe(ctx, probes[0]); err != nil || got.ExitCode != 0 {
			t.Errorf("RunProbe after the reboot = %+v, %v; want exit 0", got, err)
		}

		diag, err := b.Diagnostics(ctx)
		if err != nil {
			t.Fatalf("Diagnostics: %v", err)
		}
		for _, cmd := range awsgate.DiagnosticCommands() {
			if !strings.Contains(diag[cmd], "output of "+cmd) {
				t.Errorf("Diagnostics()[%q] = %q, want the command's output", cmd, diag[cmd])
			}
		}

		checkRequests(t, e, b)

		for i := range 2 {
			if err := b.Cleanup(context.Background()); err != nil {
				t.Fatalf("Cleanup #%d: %v", i+1, err)
			}
			e.assertClean(t, run)
		}
	})
}

// checkRequests checks what the backend asked AWS for: the instance's
// IMDS options, user data, network and tags; the task definitions; the
// placement and network of the tasks; tags on everything.
func checkRequests(t *testing.T, e *env, b *awsgate.Backend) {
	t.Helper()
	run, expires := runID(t), b.ExpiresAt().Format(time.RFC3339)
	if expires != "2000-01-01T02:00:00Z" {
		t.Errorf("expires-at %s, want 2000-01-01T02:00:00Z (the bubble's start + TTL)", expires)
	}

	ri := e.front.Requests("RunInstances")
	if len(ri) != 1 {
		t.Fatalf("%d RunInstances, want 1", len(ri))
	}
	f := ri[0].Form
	for k, want := range map[string]string{
		"ImageId":                                 testAMI,
		"SubnetId":                                testSubnet,
		"SecurityGroupId.1":                       testSG,
		"IamInstanceProfile.Name":                 "cisecs-gate-instance",
		"MetadataOptions.HttpTokens":              "required",
		"MetadataOptions.HttpPutResponseHopLimit": "2",
		"TagSpecification.1.ResourceType":         "instance",
		"TagSpecification.2.ResourceType":         "volume",
	} {
		if got := f.Get(k); got != want {
			t.Errorf("RunInstances %s = %q, want %q", k, got, want)
		}
	}
	for _, spec := range []string{"TagSpecification.1.", "TagSpecification.2."} {
		tags := map[string]string{f.Get(spec + "Tag.1.Key"): f.Get(spec + "Tag.1.Value"), f.Get(spec + "Tag.2.Key"): f.Get(spec + "Tag.2.Value")}
		if tags[release.TagRunID] != run || tags[release.TagExpiresAt] != expires {
			t.Errorf("RunInstances %s tags %v, want the run's", spec, tags)
		}
	}
	ud, err := base64.StdEncoding.DecodeString(f.Get("UserData"))
	if err != nil || !strings.Contains(string(ud), "\nECS_CLUSTER="+b.Cluster()+"\n") || !strings.Contains(string(ud), "/etc/ecs/ecs.config") {
		t.Errorf("user data %q (%v): want ECS_CLUSTER=%s written to /etc/ecs/ecs.config", ud, err, b.Cluster())
	}

	cc := e.front.Requests("CreateCluster")
	if len(cc) != 1 || cc[0].JSON["clusterName"] != "cisecs-gate-"+run || !hasTags(cc[0].JSON, run, expires) {
		t.Errorf("CreateCluster requests %v: want one, cisecs-gate-%s, tagged", cc, run)
	}

	tds := e.front.TaskDefinitions()
	if len(tds) != 4 { // awsvpc, bridge, host, bridge holding
		t.Errorf("%d task definitions, want 4", len(tds))
	}
	modes := map[string]int{}
	for _, td := range tds {
		modes[td.NetworkMode]++
	}
	if modes["host"] != 1 {
		t.Errorf("task definitions by network mode %v, want one with networkMode host (the host-mode probe)", modes)
	}
	// Each runs the probe script rendered for one of its mode's probes
	// (the backend renders it: validate.ProbeScript).
	scripts := map[string][]string{}
	for _, p := range append(probes, validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true}) {
		s, err := validate.ProbeScript(p)
		if err != nil {
			t.Fatal(err)
		}
		scripts[p.Mode] = append(scripts[p.Mode], string(s))
	}
	for _, td := range tds {
		if td.Family != b.Family(td.NetworkMode) || td.TaskRoleARN != testRole || len(td.Command) != 3 || td.Command[0] != "sh" || td.Command[1] != "-c" ||
			!slices.Contains(scripts[td.NetworkMode], td.Command[2]) || td.Tags[release.TagRunID] != run || td.Tags[release.TagExpiresAt] != expires {
			t.Errorf("task definition %+v: want family %s, role, sh -c <the probe script of a %s probe>, the run's tags", td, b.Family(td.NetworkMode), td.NetworkMode)
		}
	}

	for _, rt := range e.front.Requests("RunTask") {
		j := rt.JSON
		if j["launchType"] != "EC2" || !hasTags(j, run, expires) {
			t.Errorf("RunTask %v: want launch type EC2 and the run's tags", j)
		}
		pcs, _ := j["placementConstraints"].([]any)
		if len(pcs) != 1 || pcs[0].(map[string]any)["expression"] != "ec2InstanceId == "+b.Instance() {
			t.Errorf("RunTask placement %v, want memberOf ec2InstanceId == %s", pcs, b.Instance())
		}
		td, _ := j["taskDefinition"].(string)
		nc, hasNC := j["networkConfiguration"].(map[string]any)
		if strings.Contains(td, "-awsvpc:") != hasNC {
			t.Errorf("RunTask of %s: network configuration %v (awsvpc needs one, bridge and host none)", td, nc)
		}
		if hasNC {
			vpc := nc["awsvpcConfiguration"].(map[string]any)
			if subnets := vpc["subnets"].([]any); len(subnets) != 1 || subnets[0] != testSubnet {
				t.Errorf("RunTask awsvpc subnets %v", subnets)
			}
			if sgs := vpc["securityGroups"].([]any); len(sgs) != 1 || sgs[0] != testSG {
				t.Errorf("RunTask awsvpc security groups %v", sgs)
			}
		}
	}
}

// TestGateCreatesNothing: the gate, refusing its options, runs no check
// and makes no call; its cleanup is done and says nothing of leftovers,
// even with credentials AWS would refuse.
func TestGateCreatesNothing(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), InvalidCredentials: true}
	inBubble(t, o, func(t *testing.T, e *env) {
		var progress strings.Builder
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: "", RoleARN: testRole, RunID: runID(t), Progress: &progress,
		})
		t.Logf("progress:\n%s", progress.String())
		if r.Error == "" || r.ExitCode() != validate.ExitError || len(r.Checks) > 0 {
			t.Errorf("report: error %q, exit %d, checks %v; want bad options, exit 2, no check", r.Error, r.ExitCode(), r.Checks)
		}
		if r.Cleanup.Status != validate.CleanupDone {
			t.Errorf("cleanup %+v, want done", r.Cleanup)
		}
		if strings.Contains(progress.String(), "left behind") || strings.Contains(progress.String(), "FAILED") {
			t.Errorf("progress claims a failure or leftovers:\n%s", progress.String())
		}
		if ops := e.front.Ops(); len(ops) > 0 {
			t.Errorf("the gate called %v, want nothing", ops)
		}
	})
}

// TestNew checks that New takes every well-formed setting, and refuses
// the bad ones all at once, the gate's among them, each a
// *validate.SettingError that names the setting (one name each: the
// gate's own for the settings they share), says what is wrong and what a
// good value looks like.
func TestNew(t *testing.T) {
	tests := []struct {
		name string
		edit func(*awsgate.Options)
		// want are the settings refused, in order, and a part of each
		// message; none: no error.
		want [][2]string
	}{
		{name: "complete", edit: func(*awsgate.Options) {}},
		{name: "well-formed variants", edit: func(o *awsgate.Options) {
			o.Gate.ImageID, o.Subnet, o.SecurityGroup = "ami-0123abcd", "subnet-0123abcd", "sg-0123abcd"
			o.Region, o.InstanceType = "us-gov-west-1", "m7g.medium"
			o.InstanceProfile = "arn:aws:iam::123456789012:instance-profile/gate/cisecs-gate-instance"
			o.Gate.RoleARN = "arn:aws-cn:iam::123456789012:role/service-role/cisecs-probe"
			o.Gate.ProbeImage = "" // the gate's default
			o.ExecutionRoleARN = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
		}},
		{name: "no ami", edit: func(o *awsgate.Options) { o.Gate.ImageID = "" }, want: [][2]string{{"ImageID", "ImageID: required; want ami- and 8 or 17 hex digits"}}},
		{name: "placeholder ami", edit: func(o *awsgate.Options) { o.Gate.ImageID = "ami-..." }, want: [][2]string{{"ImageID", `ImageID "ami-...": not an AMI id; want ami- and 8 or 17 hex digits, like ami-0123456789abcdef0`}}},
		{name: "bad region", edit: func(o *awsgate.Options) { o.Region = "EU_WEST_1" }, want: [][2]string{{"Region", `Region "EU_WEST_1": not a region name; want one like eu-west-1`}}},
		{name: "no subnet", edit: func(o *awsgate.Options) { o.Subnet = " " }, want: [][2]string{{"Subnet", "Subnet: required; want subnet-"}}},
		{name: "bad subnet", edit: func(o *awsgate.Options) { o.Subnet = "subnet-1" }, want: [][2]string{{"Subnet", `Subnet "subnet-1": not a subnet id; want subnet-`}}},
		{name: "no security group", edit: func(o *awsgate.Options) { o.SecurityGroup = "" }, want: [][2]string{{"SecurityGroup", "SecurityGroup: required; want sg-"}}},
		{name: "security group name", edit: func(o *awsgate.Options) { o.SecurityGroup = "default" }, want: [][2]string{{"SecurityGroup", `SecurityGroup "default": not a security group id`}}},
		{name: "no instance profile", edit: func(o *awsgate.Options) { o.InstanceProfile = "" }, want: [][2]string{{"InstanceProfile", "InstanceProfile: required"}}},
		{name: "role for instance profile", edit: func(o *awsgate.Options) { o.InstanceProfile = testRole }, want: [][2]string{{"InstanceProfile", "not an instance profile name or ARN; want a name like cisecs-gate-instance, or an ARN like arn:aws:iam::123456789012:instance-profile/"}}},
		{name: "bad instance type", edit: func(o *awsgate.Options) { o.InstanceType = "small" }, want: [][2]string{{"InstanceType", `InstanceType "small": not an instance type; want one like t3.small`}}},
		{name: "no task role", edit: func(o *awsgate.Options) { o.Gate.RoleARN = "" }, want: [][2]string{{"RoleARN", "RoleARN: required; want one like arn:aws:iam::"}}},
		{name: "task role name", edit: func(o *awsgate.Options) { o.Gate.RoleARN = "cisecs-probe" }, want: [][2]string{{"RoleARN", `RoleARN "cisecs-probe": not an IAM role ARN`}}},
		{name: "execution role name", edit: func(o *awsgate.Options) { o.ExecutionRoleARN = "ecsTaskExecutionRole" }, want: [][2]string{{"ExecutionRoleARN", `ExecutionRoleARN "ecsTaskExecutionRole": not an IAM role ARN`}}},
		{name: "bad probe image", edit: func(o *awsgate.Options) { o.Gate.ProbeImage = "x y" }, want: [][2]string{{"ProbeImage", `probe image "x y": not an image reference`}}},
		{name: "bad run id", edit: func(o *awsgate.Options) { o.Gate.RunID = "a/b" }, want: [][2]string{{"RunID", `run id "a/b": want 1 to 64`}}},
		{name: "empty run id", edit: func(o *awsgate.Options) { o.Gate.RunID = "" }, want: [][2]string{{"RunID", "RunID: required: default the gate's options once"}}},
		{name: "bad parameter", edit: func(o *awsgate.Options) { o.Gate.Publish = "/aws/x" }, want: [][2]string{{"Publish", `parameter "/aws/x": not an SSM parameter name`}}},
		{name: "all at once", edit: func(o *awsgate.Options) {
			o.Gate.ImageID, o.Region, o.Subnet, o.SecurityGroup, o.InstanceProfile, o.Gate.RoleARN = "ami-...", "EU_WEST_1", "", "sg-1", "", "r"
		}, want: [][2]string{{"ImageID", "ami-..."}, {"Region", "EU_WEST_1"}, {"Subnet", "required"}, {"SecurityGroup", "sg-1"}, {"InstanceProfile", "required"}, {"RoleARN", `"r"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fakeOptions()
			tt.edit(&o)
			b, err := awsgate.New(t.Context(), o)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if b.Name() != "aws" || b.Cluster() != "cisecs-gate-run-1" || b.Family("awsvpc") != "cisecs-gate-run-1-awsvpc" {
					t.Errorf("names: %s %s %s", b.Name(), b.Cluster(), b.Family("awsvpc"))
				}
				return
			}
			got, _ := validate.SettingErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("New: %v; want %d setting errors", err, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Setting != w[0] || !strings.Contains(got[i].Error(), w[1]) {
					t.Errorf("error %d: %s: %v; want %s: %q", i, got[i].Setting, got[i], w[0], w[1])
				}
			}
		})
	}
}

// TestNotLaunched: the task and host methods refuse to run before Launch.
func TestNotLaunched(t *testing.T) {
	b, err := awsgate.New(t.Context(), fakeOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := validate.Probe{Mode: release.ModeAWSVPC, RoleARN: testRole}
	if _, err := b.RunProbe(t.Context(), p); err == nil || !strings.Contains(err.Error(), "Launch first") {
		t.Errorf("RunProbe: %v", err)
	}
	if _, err := b.StartTask(t.Context(), p); err == nil || !strings.Contains(err.Error(), "Launch first") {
		t.Errorf("StartTask: %v", err)
	}
	if err := b.Reboot(t.Context()); err == nil || !strings.Contains(err.Error(), "Launch first") {
		t.Errorf("Reboot: %v", err)
	}
}

// TestProbeImageFromPrivateECR: the checks take a probe image in the
// account's own ECR (by tag or by digest), for subnets that reach the
// registries through VPC endpoints only.
func TestProbeImageFromPrivateECR(t *testing.T) {
	for _, img := range []string{
		validate.DefaultProbeImage,
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/cisecs/probe:2023",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/cisecs/probe@sha256:" + strings.Repeat("ab", 32),
		"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/probe:1",
	} {
		t.Run(img, func(t *testing.T) {
			o := fakeOptions()
			o.Gate.ProbeImage = img
			if err := o.Check(); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestGatePublishRefused runs the whole gate on the front, passing, and
// has SSM's check never store the AMI id: the gate must report that it
// did not publish, not that it did.
func TestGatePublishRefused(t *testing.T) {
	lat := briefLatencies()
	lat.ImageParameter = awssim.Never
	o := awssim.Options{Latencies: lat, Probe: holdingProbe,
		Images: []awssim.Image{{ID: testAMI, Name: "cisecs-al2023-1", Tags: map[string]string{"cisecs:image": "al2023-cis-level1"}}}}
	inBubble(t, o, func(t *testing.T, e *env) {
		pub, err := publish.New(t.Context(), publish.Options{SSM: e.ssm, EC2: e.ec2, RunID: runID(t)})
		if err != nil {
			t.Fatal(err)
		}
		param := "/cisecs/" + runID(t) + "/ami-id"
		var progress strings.Builder
		r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
			ImageID: testAMI, RoleARN: testRole, RunID: runID(t), Progress: &progress,
			Publish: param, Publisher: pub,
		})
		t.Logf("progress:\n%s", progress.String())
		if !r.Passed() {
			t.Fatalf("the gate failed (%s), want every check passed", r.Summary())
		}
		if r.Published || !strings.Contains(r.PublishError, "has not stored it") {
			t.Errorf("report: published %t, publish error %q; want not published, SSM's check named", r.Published, r.PublishError)
		}
		if r.ExitCode() == validate.ExitPass {
			t.Errorf("exit code %d, want a failure when the AMI id was not published", r.ExitCode())
		}
		e.assertClean(t, runID(t))
	})
}
