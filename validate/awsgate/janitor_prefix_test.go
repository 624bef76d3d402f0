package awsgate_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestJanitorRunIDPrefix is a cancelled CI run: two of its gate legs were
// killed before their cleanup, hours before their expiry, beside another
// run's leg that is still going. A sweep with the cancelled run's prefix
// removes both legs' resources at once and leaves the other run's alone;
// without the prefix, the sweep removes nothing.
func TestJanitorRunIDPrefix(t *testing.T) {
	inBubble(t, awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe}, func(t *testing.T, e *env) {
		ctx := t.Context()
		base := runID(t)
		cancelled := base + "-1-"
		var legs []*awsgate.Backend
		for _, id := range []string{cancelled + "0", cancelled + "1", base + "-2-0"} {
			b := e.backend(t, func(o *awsgate.Options) { o.Gate.RunID = id; o.TTL = 10 * time.Hour })
			if err := b.Launch(ctx, probes); err != nil {
				t.Fatalf("Launch %s: %v", id, err)
			}
			if _, err := b.StartTask(ctx, validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true}); err != nil {
				t.Fatalf("StartTask %s: %v", id, err)
			}
			legs = append(legs, b)
		}

		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second}
		none, err := j.Sweep(ctx, time.Now())
		if err != nil || len(none.Instances)+len(none.Clusters)+len(none.Tasks)+len(none.TaskDefinitions) > 0 {
			t.Fatalf("sweep without a prefix: %+v, %v; want nothing (no run has expired)", none, err)
		}

		j.RunIDPrefix = cancelled
		swept, err := j.Sweep(ctx, time.Now())
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		t.Logf("swept %+v", swept)
		want := []string{legs[0].Instance(), legs[1].Instance()}
		slices.Sort(want)
		got := slices.Sorted(slices.Values(swept.Instances))
		if !slices.Equal(got, want) {
			t.Errorf("swept instances %q, want the cancelled run's %q", got, want)
		}
		if len(swept.Clusters) != 2 || len(swept.Tasks) != 2 || len(swept.TaskDefinitions) != 8 {
			t.Errorf("swept %d clusters, %d tasks, %d task definitions; want the cancelled run's 2, 2 and 8",
				len(swept.Clusters), len(swept.Tasks), len(swept.TaskDefinitions))
		}
		e.assertClean(t, cancelled+"0")
		e.assertClean(t, cancelled+"1")
		left, err := e.front.Leftovers(ctx, base+"-2-0")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) < 5 {
			t.Errorf("the other run has %q, want all of its resources", left)
		}
		if err := legs[2].Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		e.assertClean(t, base+"-2-0")
	})
}
