package awssim_test

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestImageParameterCheck: as Parameter Store does, the front answers a
// PutParameter of data type aws:ec2:image at once with the next version,
// shows the value only after its check (Latencies.ImageParameter), and
// never when the AMI is not available; it refuses to change a parameter's
// data type to or from aws:ec2:image, and to overwrite without Overwrite.
func TestImageParameterCheck(t *testing.T) {
	const (
		available = "ami-0aaaaaaaaaaaaaaa1"
		pending   = "ami-0aaaaaaaaaaaaaaa2"
		missing   = "ami-0aaaaaaaaaaaaaaa3"
		check     = 10 * time.Second
	)
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	synctest.Test(t, func(t *testing.T) {
		s, err := awssim.New(awssim.Options{
			Kumo:      k.URL,
			Latencies: awssim.Latencies{ImageParameter: check},
			Images:    []awssim.Image{{ID: available}, {ID: pending, State: "pending"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, _, c := s.Clients()
		ctx := t.Context()
		const name, text = "/cisecs/image-parameter-check/ami-id", "/cisecs/image-parameter-check/text"

		put := func(name, value, dataType string, overwrite bool) (int64, error) {
			t.Helper()
			out, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
				Type: ssmtypes.ParameterTypeString, DataType: aws.String(dataType), Overwrite: aws.Bool(overwrite)})
			if err != nil {
				return 0, err
			}
			return out.Version, nil
		}
		// get is the parameter's value, version and data type.
		get := func(name string) string {
			t.Helper()
			out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
			var nf *ssmtypes.ParameterNotFound
			if errors.As(err, &nf) {
				return "not found"
			}
			if err != nil {
				t.Fatalf("GetParameter(%s): %v", name, err)
			}
			p := out.Parameter
			return fmt.Sprintf("%s v%d %s", aws.ToString(p.Value), p.Version, aws.ToString(p.DataType))
		}
		code := func(err error) string {
			var api smithy.APIError
			if errors.As(err, &api) {
				return api.ErrorCode()
			}
			return fmt.Sprintf("no API error (%v)", err)
		}

		if v, err := put(name, available, "aws:ec2:image", false); err != nil || v != 1 {
			t.Fatalf("PutParameter(%s) = version %d, %v; want version 1", available, v, err)
		}
		if got := get(name); got != "not found" {
			t.Errorf("at once the parameter is %q, want not found until SSM's check", got)
		}
		time.Sleep(check)
		if got := get(name); got != available+" v1 aws:ec2:image" {
			t.Errorf("after the check the parameter is %q, want %s v1 aws:ec2:image", got, available)
		}

		for _, ami := range []string{pending, missing} {
			if v, err := put(name, ami, "aws:ec2:image", true); err != nil || v != 2 {
				t.Errorf("PutParameter(%s) = version %d, %v; want version 2 (the check comes later)", ami, v, err)
			}
			time.Sleep(2 * check)
			if got := get(name); got != available+" v1 aws:ec2:image" {
				t.Errorf("after the check of %s the parameter is %q, want it unchanged", ami, got)
			}
		}

		if _, err := put(name, available, "aws:ec2:image", false); code(err) != "ParameterAlreadyExists" {
			t.Errorf("PutParameter without Overwrite: %v, want ParameterAlreadyExists", err)
		}
		if _, err := put(name, "hello", "text", true); code(err) != "ValidationException" {
			t.Errorf("PutParameter aws:ec2:image -> text: %v, want ValidationException", err)
		}
		if _, err := put(text, "hello", "text", false); err != nil {
			t.Fatalf("PutParameter(text): %v", err)
		}
		if got := get(text); got != "hello v1 text" {
			t.Errorf("a text parameter is %q at once, want hello v1 text", got)
		}
		if _, err := put(text, available, "aws:ec2:image", true); code(err) != "ValidationException" {
			t.Errorf("PutParameter text -> aws:ec2:image: %v, want ValidationException", err)
		}
		time.Sleep(check)
		if got := get(text); got != "hello v1 text" {
			t.Errorf("after the refused change the text parameter is %q, want it unchanged", got)
		}
	})
}
