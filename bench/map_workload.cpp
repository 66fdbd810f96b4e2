// A large C++ container workload: a std::map and a std::unordered_map of strings
// grown, queried and shrunk, the way caches and indexes in real services behave.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 400000;
    std::map<std::string, std::vector<int>> tree;
    std::unordered_map<long, std::string> hash;
    unsigned s = 12345;
    long hits = 0;
    for (long i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        std::string key = "key-" + std::to_string(s % (n / 2 + 1));
        auto &v = tree[key];
        v.push_back(int(i));
        hash[long(s % 100000)] = key + "/" + std::to_string(i);
        if (i % 3 == 0) hits += tree.count("key-" + std::to_string(i % 1000));
        if (i % 5 == 0) tree.erase(key);
    }
    printf("%zu %zu %ld\n", tree.size(), hash.size(), hits);
    return 0;
}
