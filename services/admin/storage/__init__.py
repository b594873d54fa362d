"""The bucket audit: does the object store agree with the ``files`` table?"""
