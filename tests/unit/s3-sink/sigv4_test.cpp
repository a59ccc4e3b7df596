// The signer against AWS's published Signature Version 4 vectors: the generic test suite
// (aws-sig-v4-test-suite, 2015-08-30, service "service") and the worked S3 examples of the S3 API
// reference ("Signature Calculations for the Authorization Header", 2013-05-24, examplebucket).
#include "s3-sink/src/sigv4.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow::s3;

namespace {

const Credentials suite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

std::string suite_authorization(const std::string& method, const std::string& path, const std::string& query,
                                std::vector<std::pair<std::string, std::string>> headers, const std::string& body = "",
                                const Credentials& credentials = suite) {
  headers.emplace_back("Host", "example.amazonaws.com");
  return sign({method, path, query, headers, sha256_hex(body)}, credentials, "us-east-1", "service", "20150830T123600Z")
      .authorization;
}

std::string suite_expected(const std::string& signed_headers, const std::string& signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=" +
         signed_headers + ", Signature=" + signature;
}

}  // namespace

TEST_CASE("SigV4 test suite: vanilla, unreserved characters, query order by key, case and value") {
  CHECK(suite_authorization("GET", "/", "", {}) ==
        suite_expected("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  CHECK(suite_authorization("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", {}) ==
        suite_expected("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"));
  CHECK(suite_authorization("GET", "/", "Param2=value2&Param1=value1", {}) ==
        suite_expected("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
  CHECK(suite_authorization("GET", "/", "Param1=value2&Param1=value1", {}) ==
        suite_expected("host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"));
  // get-vanilla-utf8-query: U+1234 as the query's name, sent raw or already encoded
  CHECK(suite_authorization("GET", "/", "\xE1\x88\xB4=bar", {}) ==
        suite_expected("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"));
  CHECK(suite_authorization("GET", "/", "%e1%88%b4=bar", {}) ==
        suite_expected("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"));
}

TEST_CASE("SigV4 test suite: repeated, unordered and padded header values") {
  CHECK(
      suite_authorization(
          "GET", "/", "",
          {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}}) ==
      suite_expected("host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"));
  CHECK(
      suite_authorization("GET", "/", "",
                          {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}) ==
      suite_expected("host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"));
  CHECK(suite_authorization("GET", "/", "", {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}}) ==
        suite_expected("host;my-header1;my-header2;x-amz-date",
                       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"));
  CHECK(
      suite_authorization("POST", "/", "", {{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1") ==
      suite_expected("content-type;host;x-amz-date",
                     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"));
}

TEST_CASE("SigV4 test suite: a session token is signed as x-amz-security-token and sent") {
  const Credentials temporary{suite.access_key_id, suite.secret_access_key,
                              "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"};
  const auto s = sign({"GET", "/", "", {{"host", "example.amazonaws.com"}}, sha256_hex("")}, temporary, "us-east-1",
                      "service", "20150830T123600Z");
  CHECK(s.authorization == suite_expected("host;x-amz-date;x-amz-security-token",
                                          "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"));
  CHECK(s.headers == std::vector<std::pair<std::string, std::string>>{
                         {"x-amz-date", "20150830T123600Z"}, {"x-amz-security-token", temporary.session_token}});
}

TEST_CASE("SigV4 S3 examples: GET with Range, PUT with storage class, ?lifecycle, ?max-keys&prefix") {
  const Credentials example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  const std::string empty = sha256_hex("");
  auto s3 = [&](const std::string& method, const std::string& path, const std::string& query,
                std::vector<std::pair<std::string, std::string>> headers, const std::string& payload) {
    headers.emplace_back("Host", "examplebucket.s3.amazonaws.com");
    headers.emplace_back("x-amz-content-sha256", payload);
    return sign({method, path, query, headers, payload}, example, "us-east-1", "s3", "20130524T000000Z");
  };
  const auto get = s3("GET", "/test.txt", "", {{"Range", "bytes=0-9"}}, empty);
  CHECK(get.canonical_request ==
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:" + empty +
            "\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" + empty);
  CHECK(get.string_to_sign ==
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  CHECK(get.authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

  const std::string body = "Welcome to Amazon S3.";
  const auto put =
      s3("PUT", "/" + uri_encode("test$file.text", true), "",
         {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}}, sha256_hex(body));
  CHECK(sha256_hex(body) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  CHECK(put.authorization.ends_with("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));

  CHECK(s3("GET", "/", "lifecycle", {}, empty)
            .authorization.ends_with("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
  CHECK(s3("GET", "/", "max-keys=2&prefix=J", {}, empty)
            .authorization.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

TEST_CASE("SigV4 canonical query and keys: sorted by bytes, encoded once, reserved characters escaped") {
  CHECK(canonical_query("uploadId=abc&partNumber=10") == "partNumber=10&uploadId=abc");
  CHECK(canonical_query("uploads") == "uploads=");
  CHECK(canonical_query("a=10&a=9") == "a=10&a=9");
  CHECK(canonical_query("x=a.b&x=a%2Fb") == "x=a%2Fb&x=a.b");
  CHECK(canonical_query("q=a+b") == "q=a%2Bb");
  CHECK(canonical_query("q=a%20b&p=a b") == "p=a%20b&q=a%20b");
  CHECK(canonical_query("a=1=2") == "a=1%3D2");
  CHECK(canonical_query("Z=1&a=1") == "Z=1&a=1");  // bytes: upper case before lower
  CHECK(canonical_query("upload-id=x%7Ey") == "upload-id=x~y");
  CHECK(uri_encode("topics/crypto.trades/year=2024/month=03/crypto.trades+0+42.json.gz", true) ==
        "topics/crypto.trades/year%3D2024/month%3D03/crypto.trades%2B0%2B42.json.gz");
  CHECK(uri_encode("a b/ü", false) == "a%20b%2F%C3%BC");
}
