package iameval

import (
	"fmt"
	"strings"
)

// ECS ARNs use the long format: a task and a container instance name
// their cluster (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID).

func (e *expander) ecsARN(resource string) string {
	return e.arn("ecs", e.r.Region, e.r.Account, resource)
}

// clusterARN is the ARN of a cluster given by name or ARN; empty is the
// cluster "default".
func (e *expander) clusterARN(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	if ref == "" {
		ref = "default"
	}
	return e.ecsARN("cluster/" + ref)
}

func clusterName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// inCluster is the ARN of a task or container instance given by id or
// ARN, in the cluster.
func (e *expander) inCluster(kind, cluster, ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return e.ecsARN(kind + "/" + clusterName(cluster) + "/" + ref)
}

// taskDefinitionARN is the ARN of family, family:revision or an ARN; a
// family alone (its latest ACTIVE revision) is family:*, which matches
// every policy pattern the resolved revision would.
func (e *expander) taskDefinitionARN(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	if !strings.Contains(ref, ":") {
		ref += ":*"
	}
	return e.ecsARN("task-definition/" + ref)
}

func (e *expander) ecsExisting(action, arn string, parts ...ctx) {
	e.add(action, arn, append([]ctx{e.resourceTags(arn, awsResourceTag, "ecs:ResourceTag/")}, parts...)...)
}

// ecsCreated is the pair of checks for a resource ECS creates with tags:
// the operation with the request's tags and, when there are tags,
// ecs:TagResource with ecs:CreateAction (ECS Developer Guide, "Grant
// permission to tag resources on creation").
func (e *expander) ecsCreated(arn, tagARN string, tags map[string]string, parts ...ctx) {
	e.add("ecs:"+e.r.Operation, arn, append([]ctx{requestTags(tags)}, parts...)...)
	if len(tags) > 0 {
		e.add("ecs:TagResource", tagARN, requestTags(tags), one("ecs:CreateAction", e.r.Operation))
	}
}

// passRoles checks iam:PassRole on each role ARN given, to ECS tasks.
func (e *expander) passRoles(roles ...string) {
	for _, r := range roles {
		if r != "" {
			e.add("iam:PassRole", r, one("iam:PassedToService", "ecs-tasks.amazonaws.com"))
		}
	}
}

// ecs checks ECS's operations, those validate/awsgate calls. A task
// definition's task and execution roles are passed (iam:PassRole, to
// ecs-tasks.amazonaws.com) when it is registered, and again when RunTask
// overrides them.
//
// Not modelled: services, capacity providers, task sets, Fargate
// specifics, and ListTasks' per-container-instance scoping (it is
// checked on "*", with ecs:cluster).
func (e *expander) ecs() error {
	j, op := e.r.JSON, e.r.Operation
	action := "ecs:" + op
	cluster := e.clusterARN(str(j, "cluster"))
	inCluster := one("ecs:cluster", cluster)
	tags := jsonTags(j, "tags", "key", "value")
	switch op {
	case "CreateCluster":
		a := e.clusterARN(str(j, "clusterName"))
		e.ecsCreated(a, a, tags)
	case "DeleteCluster", "ListContainerInstances", "DeregisterContainerInstance":
		e.ecsExisting(action, cluster)
	case "DescribeClusters":
		refs := strs(j, "clusters")
		if len(refs) == 0 {
			refs = []string{""}
		}
		for _, r := range refs {
			e.ecsExisting(action, e.clusterARN(r))
		}
	case "ListClusters", "ListTaskDefinitionFamilies", "ListTaskDefinitions", "DescribeTaskDefinition", "DeregisterTaskDefinition":
		e.add(action, "*")
	case "ListTasks":
		e.add(action, "*", inCluster)
	case "RegisterTaskDefinition":
		family := str(j, "family")
		if family == "" {
			return fmt.Errorf("ecs:RegisterTaskDefinition: no family")
		}
		e.ecsCreated("*", e.taskDefinitionARN(family), tags)
		e.passRoles(str(j, "taskRoleArn"), str(j, "executionRoleArn"))
	case "RunTask":
		td := str(j, "taskDefinition")
		if td == "" {
			return fmt.Errorf("ecs:RunTask: no taskDefinition")
		}
		e.ecsCreated(e.taskDefinitionARN(td), e.inCluster("task", cluster, "*"), tags, inCluster)
		o := obj(j, "overrides")
		e.passRoles(str(o, "taskRoleArn"), str(o, "executionRoleArn"))
	case "StopTask":
		t := str(j, "task")
		if t == "" {
			return fmt.Errorf("ecs:StopTask: no task")
		}
		e.ecsExisting(action, e.inCluster("task", cluster, t), inCluster)
	case "DescribeTasks":
		ts := strs(j, "tasks")
		if len(ts) == 0 {
			return fmt.Errorf("ecs:DescribeTasks: no tasks")
		}
		for _, t := range ts {
			e.ecsExisting(action, e.inCluster("task", cluster, t), inCluster)
		}
	case "DescribeContainerInstances":
		cis := strs(j, "containerInstances")
		if len(cis) == 0 {
			return fmt.Errorf("ecs:DescribeContainerInstances: no containerInstances")
		}
		for _, ci := range cis {
			e.ecsExisting(action, e.inCluster("container-instance", cluster, ci), inCluster)
		}
	default:
		return e.unmodelled()
	}
	return nil
}
