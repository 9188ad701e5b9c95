#!/bin/sh
# Entry point of the keystone demo image.
exec arbor-start keystone
