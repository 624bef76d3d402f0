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

		held := validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true}
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
	for _, p := range append(probes, validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true}) {
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

func hasTags(j map[string]any, run, expires string) bool {
	tags := map[string]string{}
	l, _ := j["tags"].([]any)
	for _, t := range l {
		m := t.(map[string]any)
		tags[m["key"].(string)] = m["value"].(string)
	}
	return tags[release.TagRunID] == run && tags[release.TagExpiresAt] == expires
}
