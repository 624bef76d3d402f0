package awsgate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/release"
)

// tags are the run's tags, in order.
func (b *Backend) tags() [][2]string {
	return [][2]string{
		{release.TagRunID, b.o.Gate.RunID},
		{release.TagExpiresAt, b.expiresAt.Format(time.RFC3339)},
	}
}

func (b *Backend) ec2Tags() []ec2types.Tag {
	var out []ec2types.Tag
	for _, t := range b.tags() {
		out = append(out, ec2types.Tag{Key: aws.String(t[0]), Value: aws.String(t[1])})
	}
	return out
}

func (b *Backend) ecsTags() []ecstypes.Tag {
	var out []ecstypes.Tag
	for _, t := range b.tags() {
		out = append(out, ecstypes.Tag{Key: aws.String(t[0]), Value: aws.String(t[1])})
	}
	return out
}

// expiry reads a resource's gate tags: ok is false unless it carries both,
// with an expiry that parses.
func expiry(get func(key string) (string, bool)) (runID string, expires time.Time, ok bool) {
	runID, hasRun := get(release.TagRunID)
	at, hasAt := get(release.TagExpiresAt)
	if !hasRun || !hasAt || runID == "" {
		return "", time.Time{}, false
	}
	expires, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return "", time.Time{}, false
	}
	return runID, expires, true
}

func ec2Tag(tags []ec2types.Tag) func(string) (string, bool) {
	return func(key string) (string, bool) {
		for _, t := range tags {
			if aws.ToString(t.Key) == key {
				return aws.ToString(t.Value), true
			}
		}
		return "", false
	}
}

func ecsTag(tags []ecstypes.Tag) func(string) (string, bool) {
	return func(key string) (string, bool) {
		for _, t := range tags {
			if aws.ToString(t.Key) == key {
				return aws.ToString(t.Value), true
			}
		}
		return "", false
	}
}

// notFound reports whether err says the resource is already gone, which
// cleanup takes as done.
func notFound(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidInstanceID.NotFound", "InvalidNetworkInterfaceID.NotFound", "ClusterNotFoundException", "ResourceNotFoundException":
		return true
	case "InvalidParameterException", "ClientException":
		msg := strings.ToLower(api.ErrorMessage())
		return strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist")
	}
	return false
}

// apiCode is err's AWS error code, or "".
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// failures describes the failures an ECS batch call returned.
func failures(fs []ecstypes.Failure) string {
	var parts []string
	for _, f := range fs {
		s := aws.ToString(f.Reason)
		if d := aws.ToString(f.Detail); d != "" {
			s += " (" + d + ")"
		}
		if a := aws.ToString(f.Arn); a != "" {
			s = fmt.Sprintf("%s: %s", a, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
