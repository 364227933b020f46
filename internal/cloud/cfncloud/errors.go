package cfncloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"bucketdesk/internal/core"
)

// mapError wraps err, an SDK error of op in account a, with the kind its
// code and message mean, keeping err as the cause: errors.Is works on
// both, and errors.As still finds the smithy.APIError.
func mapError(a core.Account, op string, err error) error {
	kind := classify(err)
	if errors.Is(kind, core.ErrForbidden) && assumeRoleFailed(err) {
		return fmt.Errorf("cfncloud: %s in account %s: assuming role %s failed (check the role's trust policy and the project's external id): %w: %w",
			op, a.ID, a.RoleARN, kind, err)
	}
	return fmt.Errorf("cfncloud: %s in account %s: %w: %w", op, a.ID, kind, err)
}

// assumeRoleFailed reports whether err is the failure of the STS call
// that fetches an account's credentials.
func assumeRoleFailed(err error) bool {
	var oe *smithy.OperationError
	for e := err; errors.As(e, &oe); e = oe.Err {
		if oe.Service() == "STS" {
			return true
		}
	}
	return false
}

// errorCode returns the API error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func errorCodeIn(err error, codes ...string) bool {
	return slices.Contains(codes, errorCode(err))
}

// httpStatus returns the HTTP status of the answer that carried err, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var sre *smithyhttp.ResponseError
	if errors.As(err, &sre) {
		return sre.HTTPStatusCode()
	}
	return 0
}

// classify maps an SDK error onto core's kinds, as core.Cloud documents.
func classify(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		// No answer: the network, a timeout, an answer that could not be
		// read, or the caller's context. All transient.
		if s := httpStatus(err); s > 0 && s < 500 && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return core.ErrInternal
		}
		return core.ErrUnavailable
	}
	msg := ae.ErrorMessage()
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
		"RequestLimitExceeded", "TooManyRequestsException", "RequestThrottledException", "SlowDown":
		return core.ErrThrottled
	case "AlreadyExistsException", "TokenAlreadyExistsException":
		return core.ErrConflict
	case "InsufficientCapabilitiesException", "InvalidParameterValue", "InvalidParameterCombination",
		"MissingParameter", "MalformedQueryString":
		return core.ErrInvalid
	case "LimitExceededException":
		// A quota of the account (number of stacks): its state forbids
		// the request until something changes.
		return core.ErrConflict
	case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch",
		"UnrecognizedClientException", "RegionDisabledException", "MissingAuthenticationToken":
		return core.ErrForbidden
	case "ExpiredToken", "ExpiredTokenException", "IDPCommunicationError":
		// The next call fetches fresh credentials.
		return core.ErrUnavailable
	case "InternalFailure", "InternalError", "InternalServiceError", "ServiceUnavailable",
		"ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException":
		return core.ErrUnavailable
	case "ValidationError":
		switch {
		case strings.Contains(msg, "No updates are to be performed"):
			return core.ErrNoChange
		case strings.Contains(msg, "does not exist"):
			return core.ErrNotFound
		case strings.Contains(msg, "can not be updated"), strings.Contains(msg, "cannot be updated"),
			strings.Contains(msg, "cannot be deleted"), strings.Contains(msg, "can not be deleted"),
			strings.Contains(msg, "_IN_PROGRESS state"), strings.Contains(msg, "was already used"):
			return core.ErrConflict
		}
		return core.ErrInvalid
	}
	if s := httpStatus(err); s >= 500 {
		return core.ErrUnavailable
	}
	var ge *smithy.GenericAPIError
	if errors.As(err, &ge) && ge.Fault == smithy.FaultServer {
		return core.ErrUnavailable
	}
	return core.ErrInternal
}
