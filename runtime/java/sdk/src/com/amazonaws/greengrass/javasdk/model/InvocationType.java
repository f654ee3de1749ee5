// Evergreen SDK: invocation types, sent as name() in X-Amz-Invocation-Type.
package com.amazonaws.greengrass.javasdk.model;

public enum InvocationType {
  Event,
  RequestResponse
}
