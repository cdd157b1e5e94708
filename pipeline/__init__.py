"""Video and photo stages: decode → detect → track → align → translate → smooth → composite → encode."""
