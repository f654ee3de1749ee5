// Evergreen: the worker environment (reference section 1.2) as static fields, read once.
// The genuine Java SDK reads MY_FUNCTION_ARN, ROUTER_FUNCTION_ARN, SHADOW_FUNCTION_ARN and
// SECRETS_MANAGER_FUNCTION_ARN with getstatic, so these must stay non-constant static fields.
package com.amazonaws.greengrass.common;

public final class EnvVars {
  public static final String AUTH_TOKEN = System.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  public static final String MY_FUNCTION_ARN = System.getenv("MY_FUNCTION_ARN");
  public static final String ROUTER_FUNCTION_ARN = System.getenv("ROUTER_FUNCTION_ARN");
  public static final String SHADOW_FUNCTION_ARN = System.getenv("SHADOW_FUNCTION_ARN");
  public static final String SECRETS_MANAGER_FUNCTION_ARN =
      System.getenv("SECRETS_MANAGER_FUNCTION_ARN");
  public static final String GG_DAEMON_PORT = System.getenv("GG_DAEMON_PORT");
  public static final String ENCODING_TYPE = System.getenv("ENCODING_TYPE");
  public static final String LOG_LEVEL = System.getenv("LOG_LEVEL");
  public static final String GGC_MAX_INTERFACE_VERSION = System.getenv("GGC_MAX_INTERFACE_VERSION");
  public static final String AWS_REGION = System.getenv("AWS_REGION");
  public static final String AWS_IOT_THING_NAME = System.getenv("AWS_IOT_THING_NAME");

  private EnvVars() {}
}
