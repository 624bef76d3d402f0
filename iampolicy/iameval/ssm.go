package iameval

import (
	"fmt"
	"strings"
)

// Systems Manager's own key for the tags of the instance (or session)
// an action targets.
const ssmResourceTag = "ssm:resourceTag/"

// ssmDocumentARN is a document's ARN: AWS's own documents (AWS-*) have
// no account in it.
func (e *expander) ssmDocumentARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	account := e.r.Account
	if strings.HasPrefix(name, "AWS-") || strings.HasPrefix(name, "AWSSupport-") || strings.HasPrefix(name, "AmazonCloudWatch-") {
		account = ""
	}
	return e.arn("ssm", e.r.Region, account, "document/"+name)
}

// ssmParameterARN is a parameter's ARN: "parameter" then its name, with
// one slash between; AWS's public parameters (/aws/service/...) have no
// account.
func (e *expander) ssmParameterARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	account := e.r.Account
	if strings.HasPrefix(name, "/aws/service/") {
		account = ""
	}
	return e.arn("ssm", e.r.Region, account, "parameter/"+strings.TrimPrefix(name, "/"))
}

// ssmExisting is a check on an existing SSM resource or managed
// instance, with its tags under both keys SSM evaluates.
func (e *expander) ssmExisting(action, arn string, parts ...ctx) {
	e.add(action, arn, append([]ctx{e.resourceTags(arn, awsResourceTag, ssmResourceTag)}, parts...)...)
}

// ssm checks Systems Manager's operations. An EC2 instance an action
// targets is the EC2 ARN of the instance, its tags as
// ssm:resourceTag/K; a session is arn:aws:ssm:REGION:ACCOUNT:session/ID,
// tagged by Session Manager with aws:ssmmessages:session-id (the
// starter's aws:userid).
//
// Not modelled: targets by tag or resource group (SendCommand's Targets),
// managed instances that are not EC2 instances (mi-...), and
// GetParametersByPath.
func (e *expander) ssm() error {
	j, op := e.r.JSON, e.r.Operation
	action := "ssm:" + op
	instance := func(id string) string { return e.ec2ARN("instance", id) }
	switch op {
	case "StartSession":
		target := str(j, "Target")
		if !strings.HasPrefix(target, "i-") {
			return fmt.Errorf("ssm:StartSession on %q: no IAM model for a target that is not an EC2 instance", target)
		}
		doc := str(j, "DocumentName")
		if doc == "" {
			doc = "SSM-SessionManagerRunShell"
		}
		e.ssmExisting(action, instance(target))
		e.ssmExisting(action, e.ssmDocumentARN(doc))
	case "TerminateSession", "ResumeSession":
		id := str(j, "SessionId")
		if id == "" {
			return fmt.Errorf("ssm:%s: no SessionId", op)
		}
		e.ssmExisting(action, e.arn("ssm", e.r.Region, e.r.Account, "session/"+id))
	case "SendCommand":
		if targets, _ := j["Targets"].([]any); len(targets) > 0 {
			return fmt.Errorf("ssm:SendCommand with Targets: no IAM model for targets by tag")
		}
		ids := strs(j, "InstanceIds")
		if len(ids) == 0 || str(j, "DocumentName") == "" {
			return fmt.Errorf("ssm:SendCommand: no InstanceIds or DocumentName")
		}
		for _, id := range ids {
			e.ssmExisting(action, instance(id))
		}
		e.ssmExisting(action, e.ssmDocumentARN(str(j, "DocumentName")))
	case "GetCommandInvocation", "ListCommands", "ListCommandInvocations", "DescribeInstanceInformation", "DescribeSessions":
		// No resource-level permissions.
		e.add(action, "*")
	case "PutParameter":
		name := str(j, "Name")
		if name == "" {
			return fmt.Errorf("ssm:PutParameter: no Name")
		}
		a := e.ssmParameterARN(name)
		tags := jsonTags(j, "Tags", "Key", "Value")
		e.ssmExisting(action, a, requestTags(tags))
		if len(tags) > 0 {
			e.add("ssm:AddTagsToResource", a, requestTags(tags))
		}
		if str(j, "DataType") == "aws:ec2:image" {
			// SSM checks the AMI of an aws:ec2:image value with the
			// caller's credentials (Parameter Store, "Native parameter
			// support for Amazon Machine Image IDs").
			e.add("ec2:DescribeImages", "*")
		}
	case "GetParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion":
		name := str(j, "Name")
		if name == "" {
			return fmt.Errorf("ssm:%s: no Name", op)
		}
		e.ssmExisting(action, e.ssmParameterARN(name))
	case "GetParameters", "DeleteParameters":
		names := strs(j, "Names")
		if len(names) == 0 {
			return fmt.Errorf("ssm:%s: no Names", op)
		}
		for _, n := range names {
			e.ssmExisting(action, e.ssmParameterARN(n))
		}
	case "AddTagsToResource", "RemoveTagsFromResource":
		id, rt := str(j, "ResourceId"), str(j, "ResourceType")
		var a string
		switch rt {
		case "Parameter":
			a = e.ssmParameterARN(id)
		case "Document":
			a = e.ssmDocumentARN(id)
		default:
			return fmt.Errorf("ssm:%s on a %q: no IAM model for that resource type", op, rt)
		}
		var tags map[string]string
		if op == "AddTagsToResource" {
			tags = jsonTags(j, "Tags", "Key", "Value")
		}
		e.ssmExisting(action, a, requestTags(tags))
	default:
		return e.unmodelled()
	}
	return nil
}
