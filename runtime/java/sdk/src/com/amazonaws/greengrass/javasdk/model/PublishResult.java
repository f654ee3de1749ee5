// Evergreen SDK: publish result (empty).
package com.amazonaws.greengrass.javasdk.model;

public class PublishResult {
}
