// Uses a piece of every generated file, so that a file missing from the target fails the link.
#include <cstdio>

#include "Basket.h"
#include "Catalog.h"
#include "Ping.h"
#include "common_types.h"
#include "shop_constants.h"

int main() {
  test::shop::Item item;
  item.name = "pen";
  item.price.cents = test::shop::g_shop_constants.MAX_ITEMS;
  test::shop::CatalogClient* catalog = nullptr;
  test::shop::BasketClient* basket = nullptr;
  test::ping::PingClient* ping = nullptr;
  test::shop::Catalog_find_args find_args;
  test::shop::Basket_add_args add_args;
  test::ping::Ping_ping_args ping_args;
  add_args.item = item;
  (void)catalog, (void)basket, (void)ping, (void)find_args, (void)ping_args;
  std::printf("generated code OK: %s %lld %s\n", item.name.c_str(),
              static_cast<long long>(add_args.item.price.cents),
              test::shop::g_shop_constants.MOTTO.c_str());
  return 0;
}
