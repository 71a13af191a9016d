// Command voicemail is the Pulumi program that deploys the voicemail platform to Azure.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/stack"
)

func main() {
	pulumi.Run(stack.Run)
}
