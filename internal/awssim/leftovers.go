package awssim

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/cisecs/cisecs/release"
)

// Leftovers lists what of run still exists, as kumo and the front see it
// at the Clock's now: instances tagged with the run that are not
// terminated, the run's cluster (cisecs-gate-<run>) or any cluster tagged
// with it, its active task definitions, its tasks that are not stopped and
// its active container instances, and the network interfaces of its
// awsvpc tasks that exist. Empty means the run left nothing.
func (s *Server) Leftovers(ctx context.Context, run string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.advance(ctx, now)
	c := &call{r: (&http.Request{}).WithContext(ctx), now: now}
	var left []string

	tags, err := s.kec2.DescribeTags(ctx, &ec2.DescribeTagsInput{
		Filters: []ec2types.Filter{{Name: aws.String("key"), Values: []string{release.TagRunID}}},
	})
	if err != nil {
		return nil, fmt.Errorf("kumo: describe tags: %w", err)
	}
	for _, t := range tags.Tags {
		if aws.ToString(t.Value) != run || t.ResourceType != ec2types.ResourceTypeInstance {
			continue
		}
		id := aws.ToString(t.ResourceId)
		i, ok := s.lookup(c, id)
		if !ok {
			continue
		}
		if _, state := s.state(i, now); state != "terminated" {
			left = append(left, fmt.Sprintf("instance %s (%s)", id, state))
		}
		if i.container != "" && s.containerStatus(s.containers[i.container], now) != "INACTIVE" {
			left = append(left, fmt.Sprintf("container instance %s of %s", i.container, id))
		}
	}

	list, err := s.kecs.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		return nil, fmt.Errorf("kumo: list clusters: %w", err)
	}
	if len(list.ClusterArns) > 0 {
		out, err := s.kecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: list.ClusterArns})
		if err != nil {
			return nil, fmt.Errorf("kumo: describe clusters: %w", err)
		}
		for _, cl := range out.Clusters {
			tagged := false
			for _, t := range cl.Tags {
				tagged = tagged || (aws.ToString(t.Key) == release.TagRunID && aws.ToString(t.Value) == run)
			}
			if tagged || aws.ToString(cl.ClusterName) == "cisecs-gate-"+run {
				left = append(left, fmt.Sprintf("cluster %s (%s)", aws.ToString(cl.ClusterName), aws.ToString(cl.Status)))
			}
		}
	}

	for _, td := range s.taskDefs {
		if td.Tags[release.TagRunID] == run && td.Status == "ACTIVE" {
			left = append(left, "task definition "+td.ARN)
		}
	}
	for _, t := range s.tasks {
		if t.tags[release.TagRunID] != run {
			continue
		}
		if st := s.status(t, now); st.last != "STOPPED" {
			left = append(left, fmt.Sprintf("task %s (%s)", t.arn, st.last))
		} else if !t.synced {
			left = append(left, fmt.Sprintf("task %s (stopped, but kumo still runs it)", t.arn))
		}
	}
	for _, n := range s.enis {
		if n.task.tags[release.TagRunID] != run {
			continue
		}
		if st := s.eniStatus(n, now); st != "" {
			left = append(left, fmt.Sprintf("network interface %s (%s)", n.id, st))
		}
	}
	sort.Strings(left)
	return left, nil
}

// Tasks lists the ARNs of run's tasks with their status at now, as
// "<arn> <lastStatus>".
func (s *Server) Tasks(run string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var out []string
	for _, t := range s.tasks {
		if t.tags[release.TagRunID] == run {
			out = append(out, t.arn+" "+s.status(t, now).last)
		}
	}
	sort.Strings(out)
	return out
}
