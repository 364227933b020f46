package apigwhub

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"bucketdesk/internal/core"
)

var _ core.Disconnector = (*Hub)(nil)

// Disconnect closes (@connections DeleteConnection) the connections
// registered under project of the given users, or of every user when
// users is empty, and removes them from the connection store. A
// connection is forgotten even when its close fails, so that it receives
// no more frames of the project it lost; the first failure is returned
// after every connection was tried.
func (h *Hub) Disconnect(ctx context.Context, project string, users []string) error {
	conns, err := h.store.ListConnections(ctx, project, h.clock.Now())
	if err != nil {
		return fmt.Errorf("apigwhub: disconnect from %s: list connections: %w", project, err)
	}
	var first error
	for _, c := range conns {
		if len(users) > 0 && !slices.Contains(users, c.User) {
			continue
		}
		_, err := h.client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(c.ID)})
		var gone *types.GoneException
		if err != nil && !errors.As(err, &gone) && first == nil {
			first = fmt.Errorf("apigwhub: close connection %s: %w", c.ID, err)
		}
		if err := h.store.DeleteConnection(ctx, c.ID); err != nil && first == nil {
			first = fmt.Errorf("apigwhub: forget connection %s: %w", c.ID, err)
		}
	}
	return first
}
