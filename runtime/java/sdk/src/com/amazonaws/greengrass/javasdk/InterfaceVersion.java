// Evergreen SDK: the SDK interface version (compared by cores with GGC_MAX_INTERFACE_VERSION).
package com.amazonaws.greengrass.javasdk;

public final class InterfaceVersion {
  public static final String INTERFACE_VERSION = "1.5";

  private InterfaceVersion() {}
}
