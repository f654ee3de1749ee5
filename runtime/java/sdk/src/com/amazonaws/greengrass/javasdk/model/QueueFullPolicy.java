// Evergreen SDK: publish queue-full policy; AllOrException is "AllOrError" on the wire.
package com.amazonaws.greengrass.javasdk.model;

public enum QueueFullPolicy {
  BestEffort("BestEffort"),
  AllOrException("AllOrError");

  private final String wire;

  QueueFullPolicy(String wire) {
    this.wire = wire;
  }

  @Override
  public String toString() {
    return wire;
  }
}
